"""Haizea's behaviours Galerna honours (issue 14), on Haizea's own test workloads, worked out by hand.

Sites are 4 hosts of 1 CPU / 1024 MB unless the trace says otherwise.
"""
from galerna.readers import load_workload
from galerna.sim.engine import Simulation
from helpers import check, config, lease, phases, write


def sim(traces_dir, name, **cfg):
    w = load_workload(traces_dir / "tests" / f"{name}.lwf")
    return Simulation(w.site, config(**cfg), w.requests).run()


def test_fixed_suspend_and_resume_times_replace_the_rates(traces_dir, tmp_path):
    # Haizea's override-suspend-time / override-resume-time: 100 s to save lease 1's VM before the AR
    # at 1800, 50 s to restore it at 3600; its remaining 3600 - 1700 s run after that.
    r = sim(traces_dir, "preemption", scheduling={"suspend_time": 100, "resume_time": 50})
    assert [p[:3] for p in phases(r, "1")] == [
        ("run", 0, 1700), ("suspend", 1700, 1800), ("resume", 3600, 3650), ("run", 3650, 3650 + 3600 - 1700),
    ]
    assert lease(r, "1").suspensions == 1
    write(r, tmp_path)
    check(tmp_path, 2)
