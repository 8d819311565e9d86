"""The sweep's timing print: total wall time and, per profile, the sum, median and max of the run times."""
from __future__ import annotations

from galerna.sweep.runner import SweepResult
from galerna.sweep.timing import profile_lines, profile_times, wall_summary

ROWS = [
    {"profile": "nosusp", "status": "done", "run_wall_seconds": 3.0, "cached": False},
    {"profile": "vm-transfer", "status": "done", "run_wall_seconds": 40.0, "cached": True},
    {"profile": "nosusp", "status": "done", "run_wall_seconds": 1.0, "cached": False},
    {"profile": "vm-transfer", "status": "failed", "run_wall_seconds": None, "cached": False},
    {"profile": "nosusp", "status": "done", "run_wall_seconds": 2.5, "cached": False},
    {"profile": "vm-transfer", "status": "done", "run_wall_seconds": 20.0, "cached": False},
    {"profile": "susp50", "status": "failed", "run_wall_seconds": 9.0, "cached": False},
]


def test_profile_times_sum_median_max_of_finished_runs_in_first_seen_order():
    assert profile_times(ROWS) == [
        {"profile": "nosusp", "runs": 3, "sum": 6.5, "median": 2.5, "max": 3.0, "cached": 0},
        {"profile": "vm-transfer", "runs": 2, "sum": 60.0, "median": 30.0, "max": 40.0, "cached": 1},
    ]


def test_profile_lines_name_each_profile_and_the_total():
    lines = profile_lines(ROWS)
    assert lines[0].startswith("run time per profile:") and "median s" in lines[0]
    nosusp, transfer, total = (line.split() for line in lines[1:])
    assert nosusp == ["nosusp", "3", "6.5", "2.50", "3.00"]
    assert transfer[:5] == ["vm-transfer", "2", "60.0", "30.00", "40.00"] and "1 from an earlier" in lines[2]
    assert total == ["all", "5", "66.5"]
    assert profile_lines([ROWS[3]]) == []


def test_wall_summary_gives_the_total_and_the_runs_run_now():
    result = SweepResult(out_dir=None, rows=ROWS, wall_seconds=12.34, ran=5, skipped=1, workers=2)
    line = wall_summary(result)
    assert "total wall time 12.3 s" in line and "2 worker(s)" in line
    assert "median 2.75 s" in line and "sum 26.5 s" in line  # only runs not cached: 3, 1, 2.5, 20
