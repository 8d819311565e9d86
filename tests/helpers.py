"""Running the simulator in tests and checking its output independently."""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path
from typing import Sequence

from galerna.config.schema import Config
from galerna.model.lease import LeaseRequest, LeaseType
from galerna.model.site import Site
from galerna.sim.engine import Simulation, SimulationResult
from galerna.sim.metrics import summarize
from galerna.sim.output import write_output

CHECKER = Path(__file__).resolve().parents[1].parent / "shared" / "tools" / "check_schedule.py"


def config(**sections) -> Config:
    return Config.model_validate(sections)


def run(site: Site, requests: Sequence[LeaseRequest], cfg: Config | None = None) -> SimulationResult:
    return Simulation(site, cfg or Config(), requests).run()


def write(result: SimulationResult, out: Path) -> dict:
    summary = summarize(result, 0.0)
    write_output(result, summary, out)
    return summary


def poll(pred, timeout: float, step: float = 0.05):
    """Ask ``pred`` until it holds or ``timeout`` seconds pass; its last answer."""
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = pred()
        if got:
            return got
        time.sleep(step)
    return pred()


def wait_until(pred, timeout: float = 20.0, what: str = "condition"):
    """:func:`poll`, failing the test with ``what`` when ``pred`` never held; ``pred``'s answer otherwise."""
    got = poll(pred, timeout)
    if not got:
        raise AssertionError(f"timed out waiting for {what}")
    return got


def check(out: Path, n_leases: int | None = None) -> str:
    """Run the independent checker; fail the test with its report when it objects."""
    args = [sys.executable, str(CHECKER), str(out)]
    if n_leases is not None:
        args += ["--trace-leases", str(n_leases)]
    proc = subprocess.run(args, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout.strip().splitlines()[-1]


def check_in_process(out: Path, n_leases: int | None = None) -> None:
    """The same checker, imported rather than started (for many small runs)."""
    import contextlib
    import importlib.util
    import io

    global _checker
    if _checker is None:
        spec = importlib.util.spec_from_file_location("check_schedule", CHECKER)
        _checker = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(_checker)
    args = [str(out)] + (["--trace-leases", str(n_leases)] if n_leases is not None else [])
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = _checker.main(args)
    assert code == 0, buf.getvalue()


_checker = None


def rows(out: Path, name: str) -> list[dict]:
    with open(out / name) as fh:
        return list(csv.DictReader(fh))


def phases(result: SimulationResult, lease_id: str) -> list[tuple[str, float, float, tuple[int, ...]]]:
    lease = next(L for L in result.leases if L.id == lease_id)
    return [(p.activity.value, p.start, p.end, p.hosts) for p in lease.history]


def lease(result: SimulationResult, lease_id: str):
    return next(L for L in result.leases if L.id == lease_id)


def be(i, submit, duration, nodes=1, cpu=1.0, memory=1024.0, real=None, preemptible=True) -> LeaseRequest:
    return LeaseRequest(str(i), LeaseType.BE, submit, duration, tuple({"cpu": cpu, "memory": memory} for _ in range(nodes)),
                        real_duration=real, preemptible=preemptible)


def ar(i, submit, start, duration, nodes=1, cpu=1.0, memory=1024.0, real=None) -> LeaseRequest:
    return LeaseRequest(str(i), LeaseType.AR, submit, duration, tuple({"cpu": cpu, "memory": memory} for _ in range(nodes)),
                        start=start, real_duration=real, preemptible=False)


def im(i, submit, duration, nodes=1, cpu=1.0, memory=1024.0) -> LeaseRequest:
    return LeaseRequest(str(i), LeaseType.IM, submit, duration, tuple({"cpu": cpu, "memory": memory} for _ in range(nodes)),
                        preemptible=False)


def dl(i, submit, start, deadline, duration, nodes=1, cpu=1.0, memory=1024.0, real=None) -> LeaseRequest:
    return LeaseRequest(str(i), LeaseType.DEADLINE, submit, duration, tuple({"cpu": cpu, "memory": memory} for _ in range(nodes)),
                        start=start, deadline=deadline, real_duration=real)
