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
from galerna.schedule import gridedit, gridsearch
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


def edits(ops: list[str], hosts: int, horizon: int):
    """One random slot-table edit: (op, host, start, length, demand) on ``hosts`` hosts, starts up to ``horizon``."""
    return hst.tuples(
        hst.sampled_from(ops),
        hst.integers(0, hosts - 1),             # host
        hst.integers(0, horizon).map(float),    # start
        hst.integers(1, 30).map(float),         # length
        hst.sampled_from([(1.0, 512.0), (1.0, 1024.0), (2.0, 0.0)]),
    )


edit = edits(["reserve", "release", "untidy", "prune"], hosts=3, horizon=40)
question = hst.tuples(
    hst.lists(hst.integers(0, 2), min_size=1, max_size=3, unique=True),
    hst.sampled_from([(1.0, 512.0), (1.0, 1024.0), (2.0, 1024.0), (0.0, 0.0)]),
    hst.integers(1, 3),                     # count
    hst.just(0.0) | hst.integers(1, 40).map(float),  # length, 0 often
    hst.floats(-5, 60, allow_nan=False),    # earliest
    hst.floats(0, 90, allow_nan=False) | hst.just(inf),  # how far past earliest ``before`` is
)


def build(edits, trial_edits, nhosts=3):
    """A slot table after ``edits``, then ``trial_edits`` journaled and rolled back (half the time kept).

    The edits keep the core's order of time (Scheduler.advance): ``now`` only grows, the
    table is pruned at ``now`` and never inside a trial, and nothing is reserved or released
    before ``now`` (a release gives back what is held from ``now`` on, as Book.release
    does). Edits before a pruned origin are outside the table's contract: the grid has
    forgotten those rows (and extends back with full capacity) while a host's timeline
    may still hold the segment that began before ``now``.
    """
    table = SlotTable(Site.uniform(nhosts, cpu=2.0, memory=2048.0))
    held = []
    now = 0.0

    def do(op, h, s, n, d, trial):
        nonlocal now
        if op == "reserve":
            s = max(s, now)
            if table.hosts[h].fits(s, s + n, d):
                table.reserve(h, s, s + n, d)
                held.append((h, s, s + n, d))
        elif op in ("release", "untidy") and held:
            h, a, b, d = held.pop(h % len(held))
            a = max(a, now)
            if b > a:
                table.release_all(a, b, [(h, d)], tidy=op == "release")
                if op == "untidy" and h % 2:
                    table.tidy(a, b)
        elif op == "prune" and not trial:
            now = max(now, min(table.times[-1], s / 4))
            table.prune(now)

    for e in edits:
        do(*e, trial=False)
    table.begin()
    for e in trial_edits:
        do(*e, trial=True)
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


wide_edit = edits(["reserve", "reserve", "release", "untidy", "prune"], hosts=7, horizon=60)  # busier hosts
wide_question = hst.tuples(
    hst.lists(hst.integers(0, 6), min_size=1, max_size=7, unique=True),
    hst.sampled_from([(1.0, 512.0), (1.0, 1024.0), (2.0, 1024.0)]),
    hst.integers(0, 8),                     # count: often all of the hosts, sometimes none or more
    hst.integers(1, 40).map(float),         # length
    hst.floats(-5, 60, allow_nan=False),    # earliest
    hst.floats(0, 120, allow_nan=False) | hst.just(inf),
)


@settings(max_examples=300, deadline=None)
@given(hst.lists(wide_edit, max_size=60), hst.lists(wide_edit, max_size=6),
       hst.lists(wide_question, min_size=1, max_size=8))
def test_earliest_on_enough_on_many_busy_hosts_matches_the_oracle(edits, trial_edits, questions):
    """Seven hosts, many reservations, counts up to all of the hosts asked: the rows at
    which some hosts count and others do not, which the search decides lazily."""
    table = build(edits, trial_edits, nhosts=7)
    for hosts, need, count, length, earliest, ahead in questions:
        count = min(count, len(hosts) + 1) if count else 0
        before = earliest + ahead
        got = table.earliest_on_enough(hosts, need, count, length, earliest, before)
        want = oracle_earliest_on_enough(table, hosts, need, count, length, earliest, before)
        assert got == want, (hosts, need, count, length, earliest, before, table.times)


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


def oracle_total_fits(table: SlotTable, start, end, demand):
    """Walk the segments from the one holding ``start``: the first that lacks ``demand``
    site-wide (summed over the per-host timelines) blocks; then the first after it that
    has it is the answer (inf if none); none blocking over [start, end) gives ``start``."""
    times = table.times
    ends = times[1:] + [inf]

    def has(k):
        free = [sum(table.hosts[h].free_at(times[k])[r] for h in range(table.nhosts)) for r in range(len(demand))]
        return all(f + EPS >= x for f, x in zip(free, demand))

    first = max([k for k, t in enumerate(times) if t <= start], default=0)
    inside = [k for k in range(first, len(times)) if k == first or times[k] < end]
    blocked = next((k for k in inside if not has(k)), None)
    if blocked is None:
        return start
    return next((times[k] for k in range(blocked + 1, len(times)) if has(k)), inf)


@settings(max_examples=300, deadline=None)
@given(hst.lists(edit, max_size=25), hst.lists(edit, max_size=6),
       hst.lists(hst.tuples(hst.floats(-5, 60, allow_nan=False), hst.integers(0, 40).map(float),
                            hst.sampled_from([(1.0, 512.0), (3.0, 2048.0), (5.0, 0.0), (6.0, 6144.0)])), max_size=8))
def test_grid_edits_and_total_fits_match_the_per_host_timelines(edits, trial_edits, questions):
    """Every grid row equals each host's own timeline at that instant and the totals
    their sum, after reserves, releases, untidy releases, rollbacks and pruning; and
    the compiled site-wide search agrees with a walk over those sums."""
    table = build(edits, trial_edits)
    grid = table.grid
    for k, t in enumerate(table.times):
        for h in range(table.nhosts):
            assert tuple(grid[k, h]) == table.hosts[h].free_at(t), (k, h, table.times)
        assert tuple(table._tot[k]) == tuple(sum(table.hosts[h].free_at(t)[r] for h in range(table.nhosts))
                                             for r in range(table.nres))
    for k in range(1, table.n):  # the merge test, against the numpy one it replaced
        assert gridedit.rows_equal(grid, k) == bool((abs(grid[k] - grid[k - 1]) <= EPS).all())
    for start, length, demand in questions:
        got = table.total_fits(start, start + length, demand)
        assert got == oracle_total_fits(table, start, start + length, demand), (start, length, demand, table.times)


def test_grid_kernels_reject_bad_arguments_clearly():
    table = SlotTable(Site.uniform(2))
    delta = np.ones((1, 2))
    with pytest.raises(IndexError, match="host 5"):
        gridedit.add_rows(table._grid, table._tot, 0, 1, [5], delta, 1.0)
    with pytest.raises(IndexError, match="rows"):
        gridedit.add_rows(table._grid, table._tot, 0, 999, [0], delta, 1.0)
    with pytest.raises(ValueError, match="delta is 1x2 for 2 hosts"):
        gridedit.add_rows(table._grid, table._tot, 0, 1, [0, 1], delta, 1.0)
    with pytest.raises(IndexError, match="row 0"):
        gridedit.rows_equal(table._grid, 0)
    with pytest.raises(ValueError, match="demand has 1 resources"):
        gridsearch.total_fits(table._tot, table.times, 0.0, 1.0, (1.0,))


@settings(max_examples=300, deadline=None)
@given(hst.lists(hst.tuples(hst.integers(0, 8).map(lambda x: x / 2), hst.integers(0, 16).map(float)),
                 min_size=1, max_size=6),
       hst.sampled_from([(1.0, 512.0), (0.5, 0.0), (0.0, 0.0), (2.0, 1024.0)]),
       hst.integers(1, 5), hst.lists(hst.integers(0, 5), max_size=3))
def test_fit_counts_match_the_obvious_formula(rows, want, n, blocked):
    """Per host: copies of ``want`` that fit, at the tightest resource; n if it asks for nothing; 0 if blocked."""
    least = np.array(rows, dtype=float) * (1.0, 256.0)
    blocked = [h for h in blocked if h < len(rows)]
    got = gridsearch.fit_counts(least, want, float(n), blocked or None)
    for h, free in enumerate(least):
        fits = [int((f + EPS) // w) for f, w in zip(free, want) if w > 0]
        expected = 0 if h in blocked else (min(fits) if fits else n)
        assert got[h] == expected, (h, free, want)
    with pytest.raises(IndexError, match="host 9"):
        gridsearch.fit_counts(least, want, float(n), [9])


def numpy_in_place_start(table: SlotTable, need, length, earliest, before):
    """The numpy code gridsearch.in_place_start replaced (SlotTable.earliest_in_place's grid part)."""
    from bisect import bisect_left, bisect_right
    times = table.times
    i0 = max(bisect_right(times, earliest) - 1, 0)
    i1 = bisect_left(times, before)
    if i1 <= i0:
        return None
    hosts = list(need)
    want = np.array([need[h] for h in hosts], dtype=float)
    ok = (table._grid[i0:i1, hosts] + EPS >= want).reshape(i1 - i0, -1).all(axis=1)
    if ok[-1]:
        bad = np.flatnonzero(~ok)
        k = int(bad[-1]) + 1 if len(bad) else 0
        return max(times[i0 + k], earliest)
    edge = np.diff(ok.astype(np.int8), prepend=0, append=0)
    t = table.times_array()[i0 : i1 + 1]
    starts = np.maximum(t[np.flatnonzero(edge == 1)], earliest)
    ends = t[np.flatnonzero(edge == -1)]
    good = np.flatnonzero(ends - starts >= length - EPS)
    return float(starts[good[0]]) if len(good) else None


@settings(max_examples=300, deadline=None)
@given(hst.lists(edit, max_size=25), hst.lists(edit, max_size=6), hst.lists(question, min_size=1, max_size=8))
def test_in_place_start_matches_the_numpy_code_it_replaced(edits, trial_edits, questions):
    table = build(edits, trial_edits)
    for hosts, need, _, length, earliest, ahead in questions:
        before = earliest + ahead
        want = {h: need if k % 2 == 0 else (need[0] / 2, need[1]) for k, h in enumerate(hosts)}
        got = gridsearch.in_place_start(table._grid, table.times_array(), table.times, list(want),
                                        list(want.values()), earliest, before, length)
        expected = numpy_in_place_start(table, want, length, earliest, before)
        assert got == expected and type(got) is type(expected), (want, length, earliest, before, table.times)


def test_in_place_start_prefers_the_stretch_up_to_its_slot_over_an_earlier_hole():
    table = SlotTable(Site.uniform(2))
    table.reserve(0, 10, 20, V)   # host 0: free [0, 10), busy [10, 20), free [20, 100) up to its slot
    table.reserve(0, 40, 50, V)   # ... busy [40, 50): the stretch up to 100 starts at 50
    need = {0: V}
    args = (table._grid, table.times_array(), table.times, [0], [V])
    assert gridsearch.in_place_start(*args, 0.0, 100.0, 10.0) == 50  # not the earlier [0, 10) or [20, 40)
    table.reserve(0, 90, 100, V)  # now nothing runs up to 100: the first hole long enough
    args = (table._grid, table.times_array(), table.times, [0], [V])
    assert gridsearch.in_place_start(*args, 0.0, 100.0, 10.0) == 0.0
    assert gridsearch.in_place_start(*args, 0.0, 100.0, 15.0) == 20.0
    assert gridsearch.in_place_start(*args, 0.0, 100.0, 50.0) is None
    assert table.earliest_in_place(need, 15.0, 0.0, 100.0) == 20.0
    with pytest.raises(IndexError, match="host 5"):
        gridsearch.in_place_start(table._grid, table.times_array(), table.times, [5], [V], 0.0, 100.0, 1.0)


@settings(max_examples=300, deadline=None)
@given(hst.lists(edit, max_size=40), hst.lists(edit, max_size=6),
       hst.lists(hst.tuples(hst.lists(hst.integers(0, 2), min_size=1, max_size=3, unique=True),
                            hst.lists(hst.sampled_from([(1.0, 512.0), (1.0, 1024.0), (2.0, 0.0), (0.5, 2048.0)]),
                                      min_size=3, max_size=3),
                            hst.floats(-5, 60, allow_nan=False), hst.integers(0, 40).map(float)),
                  min_size=1, max_size=8))
def test_fits_on_matches_the_window_expression(edits, trial_edits, questions):
    """Mapper.map_fixed's compiled question against the numpy expression it replaced:
    the table's window (its per-column cache when the interval spans every segment)."""
    table = build(edits, trial_edits)
    for hosts, need, start, length in questions:
        rows = [list(need[k]) for k in range(len(hosts))]
        free = table.window(start, start + length)[hosts]
        expected = bool((free + EPS >= np.array(rows)).all())
        assert gridsearch.fits_on(table._grid, table.times, hosts, rows, start, start + length) == expected
