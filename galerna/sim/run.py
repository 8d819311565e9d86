"""One simulation from files to an output directory: what `galerna simulate`, the
sweeps and the tests all call."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Sequence

from galerna.config.schema import Config
from galerna.model.site import Site
from galerna.readers import WorkloadCache, load_workload
from galerna.readers import inject as inject_file
from galerna.sim.default_workload import default_site, default_workload
from galerna.sim.engine import Simulation, SimulationResult
from galerna.sim.metrics import summarize
from galerna.sim.output import write_output


def site_from_config(config: Config) -> Site:
    s = config.site
    return Site.uniform(s.nodes, cpu=s.cpu, memory=s.memory, **s.extra)


def prepare(
    trace: Path | None, config: Config, inject: Sequence[Path] = (), workloads: WorkloadCache | None = None
) -> Simulation:
    """Read the workload and build the simulation (the embedded default without a trace); ``workloads`` keeps
    the files read for the next runs of this process (a sweep worker)."""
    if trace is None:
        requests, site = default_workload(), default_site()
        if inject:
            raise ValueError("--inject needs a trace to inject into")
    else:
        load = workloads.load if workloads is not None else load_workload
        workload = load(trace, config.trace)
        for f in inject:
            workload = inject_file(workload, f, load=load)
        requests = workload.requests
        site = workload.site or site_from_config(config)
    return Simulation(site, config, requests)


def simulate(
    trace: Path | None,
    config: Config,
    out_dir: Path,
    inject: Sequence[Path] = (),
    progress: bool = False,
    on_progress: Callable[[int], None] | None = None,
    workloads: WorkloadCache | None = None,
) -> dict:
    """Run one simulation, write ``out_dir``, return the summary (``workloads``: see ``prepare``)."""
    t0 = time.perf_counter()
    sim = prepare(trace, config, inject, workloads)
    result = sim.run(on_progress)
    summary = summarize(result, time.perf_counter() - t0)
    write_output(result, summary, Path(out_dir))
    return summary


def run_result(trace: Path | None, config: Config, inject: Sequence[Path] = ()) -> SimulationResult:
    """Run without writing anything (benchmarks, tests)."""
    return prepare(trace, config, inject).run()
