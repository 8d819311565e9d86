"""What one HPDC 2008 study run spends outside ``Simulation.run()`` (issue 13), step by step, in CPU seconds.

For each profile named, one run of studies/hpdc2008.toml with one AR injection, done as a sweep worker does it in
its steady state: task.json and the configuration, reading the trace and the injection (through a WorkloadCache an
earlier run of the process filled, as in a worker), ``run()``, the summary, the output directory. What Dask costs
around a task (a worker's other threads: heartbeats, and its profiler, which the sweep turns off) is not in these
figures.

Usage: python benchmarks/run_overhead.py [--profiles nosusp,susp50,...] [--injection work_15-dur_2h-size_2medium]
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profiles", default="nosusp,susp50,vm-predeployed,vm-reuse,vm-transfer")
    ap.add_argument("--injection", default="work_15-dur_2h-size_2medium")
    args = ap.parse_args()

    from galerna.config.schema import Config
    from galerna.readers import WorkloadCache
    from galerna.sim.metrics import summarize
    from galerna.sim.output import write_output
    from galerna.sim.run import prepare
    from galerna.sweep.spec import load_sweep

    clock = time.process_time
    tmp = Path(tempfile.mkdtemp(prefix="run-overhead-"))
    try:
        tasks = load_sweep(ROOT / "studies" / "hpdc2008.toml").tasks(tmp)
        workloads = WorkloadCache()
        prepare(Path(tasks[0].trace), Config.model_validate(tasks[0].config), [], workloads)  # an earlier run's read
        for profile in args.profiles.split(","):
            task = next(t for t in tasks if t.profile == profile and args.injection in t.run_id)
            out = Path(task.out_dir)
            out.mkdir(parents=True)
            steps: dict[str, float] = {}
            c = clock()
            (out / "task.json").write_text(json.dumps(asdict(task), indent=1))
            config = Config.model_validate(task.config)
            steps["task+config"] = clock() - c
            c = clock()
            sim = prepare(Path(task.trace), config, [Path(p) for p in task.injections], workloads)
            steps["read+inject"] = clock() - c
            c = clock()
            result = sim.run()
            ran = clock() - c
            c = clock()
            summary = summarize(result, 0.0)
            steps["summarize"] = clock() - c
            c = clock()
            write_output(result, summary, out)
            steps["write_output"] = clock() - c
            print(f"{profile:15s} run() {ran:7.2f} s   outside {sum(steps.values()):.3f} s: "
                  + ", ".join(f"{k} {v:.3f}" for k, v in steps.items()), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
