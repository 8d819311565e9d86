"""The slot table's compiled whole-question calls against the code they replaced.

``placement.place_alike`` (the mapper's placement of alike VMs) is compared with the
host-selection policies' own numpy ranking plus the fill/stripe hand-out, on random
windows of free capacity with ties (equal free amounts and loads), blocked hosts and
VMs asking for nothing of a resource. The compiled grid edit (``gridedit.edit``:
split, add, merge, as one call) is compared with a plain-list oracle through random
reserves, releases, untidy releases, tidies, journaled rollbacks and prunes; a plan held
and released in one call (``gridedit.apply_phases``) with ``phases.stretches`` applied
stretch by stretch.
"""
from bisect import bisect_left, bisect_right
from math import inf

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst

from galerna.model.site import Host, Site
from galerna.schedule.gridedit import demand_rows, lost_minima
from galerna.schedule.gridsearch import fit_counts
from galerna.schedule.lease import Activity, Phase
from galerna.schedule.mapper import Mapper
from galerna.schedule.phases import stretches
from galerna.schedule.placement import GREEDY, NOT_ALIKE, PACKING, STRIPING, earliest_alike, place_alike
from galerna.schedule.policies.host_selection import greedy, packing, striping
from galerna.schedule.slottable import SlotTable, demand_per_host
from galerna.schedule.timeline import EPS, Timeline, lengths

POLICIES = {GREEDY: greedy, PACKING: packing, STRIPING: striping}


def numpy_place(free, want, n, blocked, load, ordering):
    """The mapper's alike-VM path before it was compiled (mapper.map_at, uniform case)."""
    counts = fit_counts(free, want, n, blocked)
    fitting = np.flatnonzero(counts > 0)
    if not len(fitting) or counts.sum() < n:
        return None
    order, fill = ordering(fitting, free[fitting], load)
    per_host = np.minimum(counts[order], n).astype(int)
    if fill:
        seq = np.repeat(order, per_host)
    else:
        seq = np.concatenate([order[per_host > r] for r in range(int(per_host.max()))])
    return tuple(int(h) for h in seq[:n])


# Few distinct values so that ties in every key occur often.
cells = hst.sampled_from([0.0, 0.5, 1.0, 1.0, 2.0, 3.0])


@settings(max_examples=400, deadline=None)
@given(data=hst.data(), nhosts=hst.integers(1, 9), policy=hst.sampled_from([GREEDY, PACKING, STRIPING]))
def test_place_alike_matches_the_numpy_policies(data, nhosts, policy):
    free = np.array(data.draw(hst.lists(hst.tuples(cells, cells), min_size=nhosts, max_size=nhosts)), dtype=float)
    want = data.draw(hst.tuples(hst.sampled_from([0.0, 0.5, 1.0]), hst.sampled_from([0.0, 1.0, 2.0])))
    n = data.draw(hst.integers(1, 12))
    blocked = data.draw(hst.none() | hst.lists(hst.integers(0, nhosts - 1), max_size=3))
    loads = np.array(data.draw(hst.lists(hst.integers(1, 3), min_size=nhosts, max_size=nhosts)))
    asked = []

    def load():
        asked.append(1)
        return loads

    expected = numpy_place(free, want, n, blocked, lambda: loads, POLICIES[policy])
    assert place_alike(free, want, n, blocked, load, policy) == expected
    assert not asked or policy == GREEDY  # only greedy ranks by load


def test_place_alike_answers_a_known_case():
    free = np.array([[1.0, 1024.0], [2.0, 2048.0], [2.0, 2048.0], [0.0, 0.0]])
    loads = np.array([1, 3, 2, 1])
    # Greedy: least-loaded first (host 0, then 3 which fits none), then host 2 before host 1.
    assert place_alike(free, (1.0, 1024.0), 4, None, lambda: loads, GREEDY) == (0, 2, 2, 1)
    # Packing: fullest host that fits first; striping: one per host per round, emptiest first.
    assert place_alike(free, (1.0, 1024.0), 3, None, lambda: loads, PACKING) == (0, 1, 1)
    assert place_alike(free, (1.0, 1024.0), 3, None, lambda: loads, STRIPING) == (1, 2, 0)
    assert place_alike(free, (1.0, 1024.0), 6, None, lambda: loads, STRIPING) is None
    assert place_alike(free, (1.0, 1024.0), 2, [1, 2], lambda: loads, PACKING) is None


def test_place_alike_refuses_bad_input():
    free = np.ones((3, 2))
    with pytest.raises(ValueError, match="want has 3 resources"):
        place_alike(free, (1.0, 1.0, 1.0), 1, None, lambda: np.ones(3), PACKING)
    with pytest.raises(IndexError, match="host 5"):
        place_alike(free, (1.0, 1.0), 1, [5], lambda: np.ones(3), PACKING)
    with pytest.raises(ValueError, match="no placement policy 7"):
        place_alike(free, (1.0, 1.0), 1, None, lambda: np.ones(3), 7)
    with pytest.raises(ValueError, match="load has 2 hosts"):
        place_alike(free, (1.0, 1.0), 1, None, lambda: np.ones(2), GREEDY)


def test_lengths_counts_each_timelines_breakpoints():
    tls = [Timeline((1.0, 1024.0)) for _ in range(3)]
    tls[1].reserve(10.0, 20.0, (1.0, 512.0))
    tls[2].reserve(5.0, 6.0, (1.0, 512.0))
    tls[2].reserve(7.0, 8.0, (1.0, 512.0))
    got = lengths(tls)
    assert got.dtype == np.int64
    assert got.tolist() == [len(tl.times) for tl in tls] == [1, 3, 5]


# ------------------------------------------------------- the compiled grid edit
class OracleGrid:
    """The slot table's grid and totals as plain Python lists, edited as the numpy
    version of SlotTable did (split, add cell by cell, merge equal neighbours)."""

    def __init__(self, caps, origin=0.0):
        self.caps = [list(c) for c in caps]
        self.total = [sum(c[r] for c in caps) for r in range(len(caps[0]))]
        self.times = [origin]
        self.rows = [[list(c) for c in caps]]
        self.tot = [list(self.total)]
        self.journal = None

    def split(self, t):
        i = bisect_right(self.times, t) - 1
        if i >= 0 and self.times[i] == t:
            return i
        if i < 0:
            self.rows.insert(0, [list(c) for c in self.caps])
            self.tot.insert(0, list(self.total))
        else:
            self.rows.insert(i + 1, [list(c) for c in self.rows[i]])
            self.tot.insert(i + 1, list(self.tot[i]))
        self.times.insert(i + 1, t)
        return i + 1

    def merge(self, k):
        if 0 < k < len(self.times) and all(
                abs(a - b) <= EPS for ra, rb in zip(self.rows[k], self.rows[k - 1]) for a, b in zip(ra, rb)):
            del self.times[k], self.rows[k], self.tot[k]

    def apply(self, start, end, placed, sign, tidy=True):
        if end - start <= EPS:
            return
        per = demand_per_host(placed)
        delta = [(h, per[h]) for h in per]
        self.edit(start, end, delta, sign, tidy)
        if self.journal is not None:
            self.journal.append((start, end, delta, sign))

    def edit(self, start, end, delta, sign, tidy=True):
        i = self.split(start)
        j = self.split(end) if end != inf else len(self.times)
        total = [0.0] * len(self.total)
        for r in range(len(total)):
            total[r] = delta[0][1][r] * sign
            for _, d in delta[1:]:
                total[r] = total[r] + d[r] * sign
        for k in range(i, j):
            for h, d in delta:
                for r, x in enumerate(d):
                    self.rows[k][h][r] += x * sign
            for r in range(len(total)):
                self.tot[k][r] += total[r]
        if sign > 0 and tidy:
            self.merge(j)
            self.merge(i)

    def tidy(self, start, end):
        for t in (end, start):
            k = bisect_left(self.times, t)
            if k < len(self.times) and self.times[k] == t:
                self.merge(k)

    def rollback(self):
        journal, self.journal = self.journal or [], None
        for start, end, delta, sign in reversed(journal):
            self.edit(start, end, delta, -sign)

    def prune(self, now):
        i = bisect_right(self.times, now) - 1
        if i > 0:
            del self.times[:i], self.rows[:i], self.tot[:i]


instants = hst.integers(-4, 40).map(lambda x: x / 2)
vm = hst.tuples(hst.integers(0, 3), hst.sampled_from([(1.0, 512.0), (0.5, 1024.0), (0.25, 0.0)]))
grid_op = hst.one_of(
    hst.tuples(hst.sampled_from(["reserve", "release", "release-untidy"]), instants, instants,
               hst.lists(vm, min_size=1, max_size=4)),
    hst.tuples(hst.just("reserve-forever"), instants, hst.lists(vm, min_size=1, max_size=3)),
    hst.tuples(hst.just("tidy"), instants, instants),
    hst.tuples(hst.just("prune"), instants),
    hst.tuples(hst.sampled_from(["begin", "rollback"])),
)


@settings(max_examples=300, deadline=None)
@given(hst.lists(grid_op, max_size=40))
def test_compiled_grid_edits_match_the_list_oracle(ops):
    """Splits, adds, merges, journaled rollbacks and prunes: the same breakpoints, the
    same cells and totals, exactly (the same double operations in the same order)."""
    caps = [(1.0, 1024.0), (2.0, 2048.0), (1.0, 4096.0), (4.0, 1024.0)]
    table, oracle = SlotTable(Site([Host(f"n{i}", {"cpu": c, "memory": m}) for i, (c, m) in enumerate(caps)])), \
        OracleGrid(caps)
    for op in ops:
        kind = op[0]
        if kind in ("reserve", "release", "release-untidy"):
            _, a, b, placed = op
            a, b = min(a, b), max(a, b)
            sign = -1.0 if kind == "reserve" else 1.0
            if kind == "reserve":
                table.reserve_all(a, b, placed)
            else:
                table.release_all(a, b, placed, tidy=kind == "release")
            oracle.apply(a, b, placed, sign, tidy=kind != "release-untidy")
        elif kind == "reserve-forever":
            table.reserve_all(op[1], inf, op[2])
            oracle.apply(op[1], inf, op[2], -1.0)
        elif kind == "tidy":
            table.tidy(min(op[1], op[2]), max(op[1], op[2]))
            oracle.tidy(min(op[1], op[2]), max(op[1], op[2]))
        elif kind == "prune":
            table.prune(op[1])
            oracle.prune(op[1])
        elif kind == "begin":
            table.begin()
            oracle.journal = []
        else:
            table.rollback()
            oracle.rollback()
        assert table.times == oracle.times
        assert table.times_array().tolist() == oracle.times + [inf]
        assert table.n == len(table.times)
        assert table.grid.tolist() == oracle.rows
        assert table._tot[: table.n].tolist() == oracle.tot


def test_demand_rows_sums_per_host_in_order_of_first_appearance():
    placed = [(2, (1.0, 512.0)), (0, (0.5, 256.0)), (2, (0.1, 0.2)), (2, (0.2, 0.1))]
    hosts, delta = demand_rows(placed, 2)
    per = demand_per_host(placed)
    assert hosts == list(per) == [2, 0]
    assert delta.tolist() == [per[2], per[0]] == [[(1.0 + 0.1) + 0.2, (512.0 + 0.2) + 0.1], [0.5, 256.0]]
    with pytest.raises(ValueError, match="has 3 resources, the table 2"):
        demand_rows([(0, (1.0, 1.0, 1.0))], 2)


def test_compiled_edit_refuses_an_unknown_host():
    table = SlotTable(Site([Host("n0", {"cpu": 1.0, "memory": 1024.0})]))
    with pytest.raises(IndexError, match="host 3 is not in the table's 1 hosts"):
        table.reserve(3, 0.0, 1.0, (1.0, 512.0))
    assert table.times == [0.0] and table.version == 0  # refused before any change


# ------------------------------------------- the compiled walk over candidate starts
def python_walk(policy):
    """The same policy, wrapped so that the Mapper does not recognise it: its Python walk."""
    return lambda hosts, free, load: policy(hosts, free, load)


reservation = hst.tuples(hst.integers(0, 5), hst.integers(0, 30), hst.integers(1, 12),
                         hst.sampled_from([(1.0, 1024.0), (0.5, 512.0), (1.0, 0.0)]))


@settings(max_examples=250, deadline=None)
@given(reservations=hst.lists(reservation, max_size=30), policy=hst.sampled_from([greedy, packing, striping]),
       vm=hst.sampled_from([(1.0, 1024.0), (0.5, 512.0), (0.5, 0.0)]), n=hst.integers(1, 8),
       duration=hst.integers(1, 15).map(float), earliest=hst.integers(0, 40).map(lambda x: x / 2),
       latest=hst.none() | hst.integers(0, 60).map(float), exclude=hst.frozensets(hst.integers(0, 5), max_size=2),
       disabled=hst.none() | hst.integers(0, 5), odd=hst.none() | hst.sampled_from([(0.5, 512.0), (1.0, 0.0)]))
def test_compiled_earliest_matches_the_python_walk(reservations, policy, vm, n, duration, earliest, latest, exclude,
                                                   disabled, odd):
    table = SlotTable(Site.uniform(6, cpu=2.0, memory=2048.0))
    for h, s, length, d in reservations:
        if table.hosts[h].fits(float(s), float(s + length), d):
            table.reserve(h, float(s), float(s + length), d)
    if disabled is not None:
        table.enabled[disabled] = False
    compiled, walked = Mapper(table, policy), Mapper(table, python_walk(policy))
    assert compiled._compiled is not None and walked._compiled is None
    vecs = [vm] * n + ([odd] if odd is not None else [])  # VMs not alike: the compiled call declines
    late = inf if latest is None else latest
    got = compiled.earliest(vecs, duration, earliest, late, exclude)
    assert got == walked.earliest(vecs, duration, earliest, late, exclude)
    if got is not None:
        assert type(got[0]) is float
        assert compiled.map_at(vecs, got[0], got[0] + duration, exclude) == got[1]
    assert (earliest_alike(table, vecs, duration, earliest, late, exclude, GREEDY) is NOT_ALIKE) == \
        (odd is not None and odd != vm)


def test_compiled_earliest_refuses_enabled_flags_it_cannot_read():
    table = SlotTable(Site.uniform(3))
    table.enabled = (True, True, True)
    with pytest.raises(ValueError, match="enabled flags must be a list of 3"):
        earliest_alike(table, [(1.0, 1024.0)], 10.0, 0.0, inf, frozenset(), PACKING)
    table.enabled = [True, False]
    with pytest.raises(ValueError, match="enabled flags must be a list of 3"):
        earliest_alike(table, [(1.0, 1024.0)], 10.0, 0.0, inf, frozenset(), PACKING)
    table.enabled = [True, 0, True]  # any truth value, as the Python walk reads it
    assert earliest_alike(table, [(1.0, 1024.0)] * 2, 10.0, 0.0, inf, frozenset({0, 7}), PACKING) is None
    assert earliest_alike(table, [(1.0, 1024.0)], 10.0, 0.0, inf, frozenset({0, -1}), PACKING) == (0.0, (2,))


@settings(max_examples=200, deadline=None)
@given(data=hst.data(), rows=hst.integers(2, 6), nhosts=hst.integers(1, 5))
def test_lost_minima_matches_the_numpy_expression(data, rows, nhosts):
    """The hosts SlotTable.prune marks stale: the numpy expression it replaced."""
    grid = np.array(data.draw(hst.lists(hst.lists(hst.tuples(cells, cells), min_size=nhosts, max_size=nhosts),
                                        min_size=rows, max_size=rows)), dtype=float)
    colmin = grid.min(axis=0) + np.array(data.draw(hst.lists(hst.tuples(*[hst.sampled_from([0.0, 0.5, 1e-10])] * 2),
                                                              min_size=nhosts, max_size=nhosts)))
    i = data.draw(hst.integers(1, rows - 1))
    lost = ((grid[:i].min(axis=0) <= colmin + EPS) & (grid[i] > colmin + EPS)).any(axis=1)
    assert lost_minima(grid, colmin, i) == np.flatnonzero(lost).tolist()


# -------------------------------------- a plan held and released in one compiled call
phase = hst.tuples(hst.booleans(), hst.integers(0, 12), hst.integers(0, 6), hst.sampled_from([(0, 1), (1, 1), (2, 0)]))


@settings(max_examples=300, deadline=None)
@given(steps=hst.lists(phase, max_size=6), from_t=hst.none() | hst.integers(0, 14).map(lambda x: x / 2),
       back_to_back=hst.booleans())
def test_apply_phases_holds_what_stretches_says(steps, from_t, back_to_back):
    """SlotTable.hold_phases and release_phases (gridedit.apply_phases) against the Python
    stretches() plus one reserve_all per stretch: the same stretches, the same objects,
    the same table."""
    phases, t = [], 0.0
    for holds, start, length, hosts in steps:
        s = t if back_to_back else float(start)
        phases.append(Phase(Activity.RUN, s, s + length, hosts, holds=holds))
        t = s + length
    vecs = ((1.0, 256.0), (0.5, 512.0))
    site = Site.uniform(3, cpu=4.0, memory=4096.0)
    compiled, oracle = SlotTable(site), SlotTable(site)
    compiled.hold_phases(phases, vecs)
    for s, e, hosts in stretches(phases):
        oracle.reserve_all(s, e, list(zip(hosts, vecs)))
    assert compiled.times == oracle.times and compiled.grid.tolist() == oracle.grid.tolist()
    f = -inf if from_t is None else from_t
    given_back = compiled.release_phases(phases, f, vecs)
    expected = stretches(phases, f)
    assert given_back == expected
    assert all(a[0] is b[0] and a[1] is b[1] for a, b in zip(given_back, expected))
    for s, e, hosts in expected:
        oracle.release_all(s, e, list(zip(hosts, vecs)))
    assert compiled.times == oracle.times and compiled.grid.tolist() == oracle.grid.tolist()
    assert compiled._tot[: compiled.n].tolist() == oracle._tot[: oracle.n].tolist()


def test_the_table_knows_whether_every_amount_held_is_whole():
    """Compression rules out a futile re-plan with images only while x + d - d == x for
    every cell (SlotTable.whole): true for whole capacities and demands, cleared for good
    by the first lease asking a fraction (0.1 + 0.2 - 0.2 != 0.1), false from the start
    for a fractional capacity."""
    from galerna.model.lease import LeaseRequest, LeaseType
    from galerna.schedule.book import Book
    from galerna.schedule.lease import Lease

    assert 0.1 + 0.2 - 0.2 != 0.1  # why the flag exists
    site = Site([Host("n0", {"cpu": 4.0, "memory": 1024.0}), Host("n1", {"cpu": 4.0, "memory": 1024.0})])
    table = SlotTable(site)
    book = Book(table, None)
    assert table.whole

    def add(i, vecs):
        req = LeaseRequest(id=str(i), type=LeaseType.BE, submit=0.0, duration=60.0,
                           nodes=tuple({"cpu": c, "memory": m} for c, m in vecs))
        book.add(Lease(req=req, vecs=tuple(vecs), seq=i))

    add(1, [(1.0, 512.0), (2.0, 256.0)])
    assert table.whole
    add(2, [(1.0, 512.0), (0.1, 256.0)])
    assert not table.whole
    add(3, [(1.0, 512.0)])
    assert not table.whole
    assert not SlotTable(Site([Host("n0", {"cpu": 1.5, "memory": 1024.0})])).whole
