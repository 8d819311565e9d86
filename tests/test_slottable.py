"""Unit tests of the timeline, the slot table and the mapper."""
from math import inf

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst

from galerna.config.schema import HostSelection
from galerna.model.site import Host, Site
from galerna.schedule.mapper import Mapper
from galerna.schedule.policies.host_selection import POLICIES
from galerna.schedule.freed import FreedSpans
from galerna.schedule.slottable import SlotTable
from galerna.schedule.timeline import Timeline

V = (1.0, 1024.0)


def test_timeline_reserve_release_restores_a_single_segment():
    tl = Timeline((4.0, 4096.0))
    tl.reserve(10, 20, (1.0, 1024.0))
    tl.reserve(15, 30, (2.0, 1024.0))
    assert tl.free_at(12) == (3.0, 3072.0)
    assert tl.free_at(17) == (1.0, 2048.0)
    assert tl.free_at(25) == (2.0, 3072.0)
    assert tl.free_at(30) == (4.0, 4096.0)
    tl.release(15, 30, (2.0, 1024.0))
    tl.release(10, 20, (1.0, 1024.0))
    assert len(tl) == 1 and tl.free_at(17) == (4.0, 4096.0)


def test_timeline_slots_is_the_minimum_over_the_window():
    tl = Timeline((4.0, 4096.0))
    tl.reserve(10, 20, (3.0, 0.0))
    assert tl.slots(0, 10, (1.0, 1024.0), 99) == 4
    assert tl.slots(0, 11, (1.0, 1024.0), 99) == 1  # touches [10, 20)
    assert tl.slots(20, inf, (1.0, 1024.0), 99) == 4
    assert tl.slots(5, 15, (2.0, 0.0), 99) == 0


def test_timeline_prune_keeps_the_present():
    tl = Timeline((1.0,))
    tl.reserve(10, 20, (1.0,))
    tl.reserve(30, 40, (1.0,))
    tl.prune(25)
    assert tl.times[0] <= 25 and tl.free_at(25) == (1.0,)
    assert tl.free_at(35) == (0.0,)


def test_slot_table_rollback_undoes_everything():
    st = SlotTable(Site.uniform(3))
    st.reserve(0, 0, 100, V)
    before = (list(st.times), st.grid.copy())
    st.begin()
    st.reserve(1, 10, 50, V)
    st.release(0, 0, 100, V)
    st.rollback()
    assert st.times == before[0]
    assert (st.grid == before[1]).all()
    assert st.total_free_at(20) == (2.0, 2048.0)


def test_grid_splits_merges_and_prunes():
    st = SlotTable(Site.uniform(2))
    st.reserve(0, 10, 20, V)
    st.reserve(1, 15, 30, V)
    assert st.times == [0, 10, 15, 20, 30]
    assert [st.total_free_at(t) for t in st.times] == [(2.0, 2048.0), (1.0, 1024.0), (0.0, 0.0), (1.0, 1024.0), (2.0, 2048.0)]
    assert st.host_free_at(0, 12) == (0.0, 0.0) and st.host_free_at(1, 12) == (1.0, 1024.0)
    st.release(1, 15, 30, V)  # the breakpoints only host 1 needed merge away
    assert st.times == [0, 10, 20]
    st.prune(12)
    assert st.times == [10, 20] and st.host_free_at(0, 12) == (0.0, 0.0)
    # Many breakpoints: the grid grows past its initial allocation and stays consistent.
    for k in range(40):
        st.reserve(k % 2, 100 + 10 * k, 105 + 10 * k, V)
    assert st.n == len(st.times) == 2 + 80
    assert all(st.total_free_at(t) == tuple(st.grid[k].sum(axis=0)) for k, t in enumerate(st.times))


def test_freed_spans_measure_stretches_and_count_the_lease_own_slot_as_free():
    st = SlotTable(Site.uniform(2))
    st.reserve(0, 10, 20, V)
    st.reserve(0, 50, 60, V)
    st.reserve(1, 0, 100, V)
    freed = FreedSpans(st, [(0, 20, 30), (0, 25, 40), (1, 100, 120)], now=0)
    assert freed.spans == [(0, 20, 40), (1, 100, 120)]  # merged per host
    best, top = freed.longest(V)
    assert list(best) == [30, inf] and top == inf
    # A 40 s lease can only use host 1's stretch; it starts at 100 at the earliest.
    assert freed.window(V, 40, before=200, own=set(), mine=None) == (100 - 40, 120)
    # A lease holding host 0 over [10, 20) sees [0, 50) there: a 40 s run fits from 0.
    assert freed.window(V, 40, before=20, own={0}, mine=(10, 20)) == (0, 10)
    assert freed.window(V, 45, before=20, own=set(), mine=None) is None


def test_longest_run_counts_the_lease_own_slot_as_free():
    st = SlotTable(Site.uniform(1))
    st.reserve(0, 10, 20, V)
    st.reserve(0, 50, 60, V)
    assert st.longest_run(0, 0, 55, V) == (20, 50)
    assert st.longest_run(0, 0, 5, V) == (0, 10)
    assert st.longest_run(0, 55, 100, V) == (60, inf)
    assert st.longest_run(0, 12, 18, V) == (12, 12)  # nothing free overlaps [12, 18)
    assert st.longest_run(0, 0, 55, V, mine=(10, 20)) == (0, 50)


def test_earliest_in_place_needs_every_own_host_and_counts_its_own_slot():
    st = SlotTable(Site.uniform(3))
    st.reserve(0, 0, 30, V)
    st.reserve(1, 20, 50, V)
    st.reserve(0, 100, 150, V)  # the asker's own slot on hosts 0 and 1
    st.reserve(1, 100, 150, V)
    need = {0: V, 1: V}
    # Both hosts are free over [50, 100), right up to its slot: it can start at 50.
    assert st.earliest_in_place(need, 50, 0, 100) == 50
    assert st.earliest_in_place(need, 500, 0, 100) == 50  # the rest runs in its own slot
    assert st.earliest_in_place(need, 50, 60, 100) == 60
    st.reserve(0, 90, 100, V)  # no longer free right before its slot...
    assert st.earliest_in_place(need, 40, 0, 100) == 50  # ...but a 40 s hole remains
    assert st.earliest_in_place(need, 41, 0, 100) is None
    assert st.earliest_in_place({2: V}, 10, 5, 99) == 5


@settings(max_examples=150, deadline=None)
@given(
    reservations=hst.lists(
        hst.tuples(hst.integers(0, 4), hst.integers(0, 300), hst.integers(1, 200)), max_size=14),
    hosts=hst.sets(hst.integers(0, 4), min_size=1),
    count=hst.integers(1, 5),
    length=hst.integers(1, 250),
    earliest=hst.integers(0, 300),
    span=hst.integers(1, 400),
)
def test_earliest_on_enough_matches_trying_every_start(reservations, hosts, count, length, earliest, span):
    # "At least ``count`` of these hosts free at once": the first start, among the
    # window's own start and every breakpoint after it, at which enough hosts have
    # room up to min(start + length, before).
    st_ = SlotTable(Site.uniform(5))
    for h, a, d in reservations:
        if st_.window(a, a + d)[h][0] >= 1:
            st_.reserve(h, a, a + d, V)
    before = earliest + span
    hosts = sorted(hosts)
    want = None
    for s in sorted({earliest} | {t for t in st_.times if earliest < t < before}):
        free = st_.window(s, min(s + length, before))
        if sum(free[h][0] >= 1 for h in hosts) >= count:
            want = s
            break
    assert st_.earliest_on_enough(hosts, V, count, length, earliest, before) == want


def test_load_counts_changes_per_host():
    st = SlotTable(Site.uniform(3))
    st.reserve(0, 10, 20, V)
    st.reserve(0, 30, 40, V)
    st.reserve(1, 10, 20, V)
    assert list(st.load()) == [5, 3, 1]


def test_total_fits_jumps_past_the_blocking_segment():
    st = SlotTable(Site.uniform(2))
    st.reserve(0, 0, 100, V)
    st.reserve(1, 50, 150, V)
    # Two VMs need both hosts. Free in total: 1 on [0,50), 0 on [50,100), 1 on [100,150), 2 after.
    # A refusal returns where the run of blocking segments that stopped it ends: a
    # lower bound on any start (every window starting earlier overlaps that run).
    assert st.total_fits(0, 10, (2.0, 2048.0)) == 150
    assert st.total_fits(50, 60, (2.0, 2048.0)) == 150
    assert st.total_fits(100, 110, (2.0, 2048.0)) == 150
    assert st.total_fits(150, 160, (2.0, 2048.0)) == 150
    assert st.total_fits(0, 10, (1.0, 1024.0)) == 0
    assert st.total_fits(40, 60, (1.0, 1024.0)) == 100  # [50, 100) blocks one VM
    # A long window (the vectorised path) answers the same.
    for k in range(20):
        st.reserve(0, 200 + 10 * k, 205 + 10 * k, V)
    assert st.total_fits(150, 400, (2.0, 2048.0)) == 205
    assert st.total_fits(0, 400, (1.0, 1024.0)) == 100


def mapper(site, policy=HostSelection.GREEDY):
    st = SlotTable(site)
    return st, Mapper(st, POLICIES[policy])


def test_earliest_finds_the_hole_between_reservations():
    st, m = mapper(Site.uniform(2))
    st.reserve(0, 0, 100, V)
    st.reserve(1, 0, 50, V)
    st.reserve(1, 200, 300, V)
    # One VM for 120 s: host 1 is free [50, 200) — a hole long enough.
    assert m.earliest([V], 120, 0) == (50, (1,))
    # One VM for 160 s: host 0 from 100 on.
    assert m.earliest([V], 160, 0) == (100, (0,))
    # Two VMs: both hosts are free together on [100, 200) — enough for 100 s, not for 101 s.
    assert m.earliest([V, V], 100, 0) == (100, (0, 1))
    assert m.earliest([V, V], 101, 0) == (300, (0, 1))


def test_earliest_respects_latest_start():
    st, m = mapper(Site.uniform(1))
    st.reserve(0, 0, 100, V)
    assert m.earliest([V], 10, 0, latest_start=99) is None
    assert m.earliest([V], 10, 0, latest_start=100) == (100, (0,))


def test_packing_fills_one_host_striping_spreads():
    site = Site.uniform(3, cpu=4, memory=4096)
    v = (1.0, 1024.0)
    _, pack = mapper(site, HostSelection.PACKING)
    _, stripe = mapper(site, HostSelection.STRIPING)
    assert len(set(pack.map_at([v] * 3, 0, 10))) == 1
    assert len(set(stripe.map_at([v] * 3, 0, 10))) == 3


def test_packing_prefers_the_fuller_host():
    site = Site.uniform(2, cpu=4, memory=4096)
    st, pack = mapper(site, HostSelection.PACKING)
    st.reserve(1, 0, 100, (3.0, 1024.0))
    assert pack.map_at([(1.0, 512.0)], 0, 10) == (1,)


def test_heterogeneous_nodes_map_on_hosts_that_fit_them():
    site = Site([Host("big", {"cpu": 4, "memory": 8192}), Host("small", {"cpu": 1, "memory": 1024})])
    _, m = mapper(site)
    hosts = m.map_at([(1.0, 1024.0), (4.0, 4096.0)], 0, 10)
    assert hosts is not None and hosts[1] == 0
    assert m.map_at([(4.0, 4096.0), (4.0, 4096.0)], 0, 10) is None


def test_extra_resource_types_are_tracked():
    site = Site([Host("a", {"cpu": 2, "memory": 2048, "disk": 100})])
    st, m = mapper(site)
    assert site.resource_types == ("cpu", "memory", "disk")
    assert m.map_at([(1.0, 512.0, 60.0)], 0, 10) == (0,)
    assert m.map_at([(1.0, 512.0, 60.0)] * 2, 0, 10) is None  # disk runs out first
    with pytest.raises(ValueError, match="net-in"):
        site.vector({"cpu": 1, "net-in": 5})


def test_window_over_every_live_segment_matches_the_grid_through_edits_and_prunes():
    # The least free per host over all live segments is kept per column and only the
    # columns an edit or a prune may have changed are recomputed: check it against the grid.
    import random

    rng = random.Random(7)
    st = SlotTable(Site.uniform(6, cpu=4, memory=4096))
    checked = 0
    held = []
    now = 0.0
    for step in range(600):
        if held and rng.random() < 0.4:
            h, a, b = held.pop(rng.randrange(len(held)))
            st.release(h, max(a, now), b, V) if b > now else None
        else:
            h = rng.randrange(6)
            a = now + rng.choice([0, 0, rng.uniform(0, 50)])
            b = a + rng.uniform(1, 400)
            if st.window(a, b)[h][0] >= 1:
                st.reserve(h, a, b, V)
                held.append((h, a, b))
        if rng.random() < 0.2:
            now += rng.uniform(0, 20)
            st.prune(now)
        st.prune(now)  # the window then starts in the first live segment
        if st.n > 17:
            far = st.times[-1] + 1
            assert (st.window(now, far) == st.grid.min(axis=0)).all(), step
            checked += 1
    assert checked > 100  # the kept minima were exercised
