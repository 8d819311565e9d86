"""The count-profile measurement in benchmarks/ (see README, Benchmarks): its filter
is exact — re-planning only the leases it lets through gives the schedule that
re-planning every reservation gives — and the schedule it measures is valid."""
import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "count_profile_ceiling.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("count_profile_ceiling", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_filtered_gives_the_naive_schedule(bench):
    jobs = bench.blue_jobs(0.35)[:900]
    naive = bench.simulate(jobs, naive=True)
    filtered = bench.simulate(jobs, naive=False)
    assert naive["moves"] > 100  # compression really happened
    assert filtered["replans"] < naive["replans"] / 2  # and the filter skipped most re-plans
    assert filtered["starts"] == naive["starts"]


def test_check_catches_an_overfull_site(bench):
    jobs = [(0.0, 100, 10.0, 10.0), (0.0, 100, 10.0, 10.0)]
    with pytest.raises(AssertionError, match="more hosts busy"):
        bench.check(jobs, [(0.0, 10.0, 100, 0), (5.0, 15.0, 100, 1)], {0: 0.0, 1: 5.0})


def test_profile_fits_a_window_to_the_last_ulp(bench):
    p = bench.CountProfile(4)
    p.add(0.0, 59848.05, -4)
    p.add(144648.05, 200000.0, -4)
    # 144648.05 - 79848.05 falls a hair short of 64800 in floating point
    p.add(59848.05, 79848.05, -4)
    assert p.earliest(4, 64800.0, 0.0) == 79848.05
