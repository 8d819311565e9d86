"""The compiled grid searches (galerna/schedule/gridsearch.pyx) against a tiny Python oracle.

The oracle answers the same question from the per-host timelines (plain Python lists,
edited by their own code), trying every candidate start one by one; random edits of a
slot table (reserves, releases, untidy releases, journaled rollbacks, pruning) are
followed by random questions, compared answer by answer.
"""
from math import inf

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst

from galerna.model.site import Site
from galerna.schedule import gridsearch
from galerna.schedule.slottable import SlotTable
from galerna.schedule.timeline import EPS

V = (1.0, 1024.0)


def oracle_earliest_on_enough(table: SlotTable, hosts, need, count, length, earliest, before):
    """Try, in order, every segment that begins before ``before`` and does not end by
    ``earliest``, from its start (or ``earliest``, for the first); a host counts when its
    own timeline fits ``need`` over [start, min(start + length, before)). The table knows
    nothing before its first breakpoint, and a start is never earlier than ``earliest``
    (which may reach ``before``)."""
    if count > len(hosts):
        return None
    times = table.times
    ends = times[1:] + [inf]
    starts = [max(t, earliest) for t, e in zip(times, ends) if t < before and (e > earliest or e == inf)]
    for s in starts:
        reach = min(s + length, before)
        empty = reach - s <= EPS  # an empty stay fits on any host
        if sum(empty or table.hosts[h].fits(s, reach, need) for h in hosts) >= count:
            return s
    return None


edit = hst.tuples(
    hst.sampled_from(["reserve", "release", "untidy", "prune"]),
    hst.integers(0, 2),                     # host
    hst.integers(0, 40).map(float),         # start
    hst.integers(1, 30).map(float),         # length
    hst.sampled_from([(1.0, 512.0), (1.0, 1024.0), (2.0, 0.0)]),
)
question = hst.tuples(
    hst.lists(hst.integers(0, 2), min_size=1, max_size=3, unique=True),
    hst.sampled_from([(1.0, 512.0), (1.0, 1024.0), (2.0, 1024.0), (0.0, 0.0)]),
    hst.integers(1, 3),                     # count
    hst.just(0.0) | hst.integers(1, 40).map(float),  # length, 0 often
    hst.floats(-5, 60, allow_nan=False),    # earliest
    hst.floats(0, 90, allow_nan=False) | hst.just(inf),  # how far past earliest ``before`` is
)


def build(edits, trial_edits):
    """A slot table after ``edits``, then ``trial_edits`` journaled and rolled back (half the time kept)."""
    table = SlotTable(Site.uniform(3, cpu=2.0, memory=2048.0))
    held = []

    def do(op, h, s, n, d):
        if op == "reserve" and table.hosts[h].fits(s, s + n, d):
            table.reserve(h, s, s + n, d)
            held.append((h, s, s + n, d))
        elif op in ("release", "untidy") and held:
            h, a, b, d = held.pop(h % len(held))
            table.release_all(a, b, [(h, d)], tidy=op == "release")
            if op == "untidy" and h % 2:
                table.tidy(a, b)
        elif op == "prune":
            table.prune(min(table.times[-1], s / 4))

    for e in edits:
        do(*e)
    table.begin()
    for e in trial_edits:
        do(*e)
    if len(trial_edits) % 2:
        table.rollback()
    else:
        table._journal = None
    return table


@settings(max_examples=300, deadline=None)
@given(hst.lists(edit, max_size=25), hst.lists(edit, max_size=6), hst.lists(question, min_size=1, max_size=8))
def test_earliest_on_enough_matches_the_oracle(edits, trial_edits, questions):
    table = build(edits, trial_edits)
    for hosts, need, count, length, earliest, ahead in questions:
        before = earliest + ahead
        got = table.earliest_on_enough(hosts, need, count, length, earliest, before)
        assert got == oracle_earliest_on_enough(table, hosts, need, count, length, earliest, before), \
            (hosts, need, count, length, earliest, before, table.times)


def test_earliest_on_enough_waits_for_enough_hosts_and_honours_before():
    table = SlotTable(Site.uniform(3))
    table.reserve(0, 0, 10, V)
    table.reserve(1, 0, 20, V)
    assert table.earliest_on_enough([0, 1, 2], V, 1, 5, 0, inf) == 0  # host 2 is free now
    assert table.earliest_on_enough([0, 1, 2], V, 2, 5, 0, inf) == 10
    assert table.earliest_on_enough([0, 1, 2], V, 3, 5, 0, inf) == 20
    assert table.earliest_on_enough([0, 1], V, 2, 5, 0, 15) is None  # host 1 is busy up to 20
    assert table.earliest_on_enough([0, 1], V, 2, 5, 0, 18) is None
    assert table.earliest_on_enough([0, 1, 2], V, 4, 5, 0, inf) is None  # more than there are
    assert table.earliest_on_enough([0], V, 1, 0, 0, 20) == 0  # an empty stay fits a busy host


def test_gridsearch_rejects_bad_arguments_clearly():
    table = SlotTable(Site.uniform(2))
    with pytest.raises(IndexError, match="host 7"):
        gridsearch.earliest_on_enough(table._grid, table.times_array(), [0, 7], V, 1, 1.0, 0.0, 10.0)
    with pytest.raises(ValueError, match="need has 1 resources"):
        gridsearch.earliest_on_enough(table._grid, table.times_array(), [0], (1.0,), 1, 1.0, 0.0, 10.0)
    with pytest.raises(ValueError):  # a grid that is not (segments, hosts, resources) of float64
        gridsearch.earliest_on_enough(np.zeros((2, 2)), table.times_array(), [0], V, 1, 1.0, 0.0, 10.0)


def test_a_missing_compiler_is_named_clearly(tmp_path):
    """setup.py turns the compiler's failure into one message saying what to install."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(root / name, tmp_path / name)
    (tmp_path / "galerna" / "schedule").mkdir(parents=True)
    shutil.copy(root / "galerna" / "schedule" / "gridsearch.pyx", tmp_path / "galerna" / "schedule")
    env = {"PATH": "/usr/bin:/bin", "CC": str(tmp_path / "no-such-gcc"), "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    assert "needs a C compiler and the Python headers" in proc.stderr and "apt-get install gcc python3-dev" in proc.stderr
