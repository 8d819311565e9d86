"""The compiled freed spans (galerna/schedule/freed.pyx) against a tiny Python oracle.

The oracle measures stretches on the per-host timelines (plain Python lists, edited by
their own code): a host's runs of segments where one VM fits, each run that overlaps
a span counting from max(its start, now) to its end. Random slot tables and spans,
then random moves (capacity given back on one host, taken on others) followed by
``add``, are compared answer by answer.
"""
from math import inf

from hypothesis import given, settings
from hypothesis import strategies as hst

from galerna.model.site import Site
from galerna.schedule.freed import FreedSpans
from galerna.schedule.slottable import SlotTable
from galerna.schedule.timeline import EPS

V = (1.0, 1024.0)
SMALLS = [V, (0.5, 512.0), (0.0, 256.0)]


def runs(table: SlotTable, h: int, small) -> list[tuple[float, float]]:
    """Host ``h``'s maximal intervals in which one ``small`` fits, from its timeline."""
    tl = table.hosts[h]
    out: list[tuple[float, float]] = []
    for i, t in enumerate(tl.times):
        end = tl.times[i + 1] if i + 1 < len(tl.times) else inf
        if all(x <= 0 or tl.free[r][i] + EPS >= x for r, x in enumerate(small)):
            if out and out[-1][1] == t:
                out[-1] = (out[-1][0], end)
            else:
                out.append((t, end))
    return out


def oracle_stretch(table, h, a, b, small, now) -> float:
    return max((e - max(s, now) for s, e in runs(table, h, small) if s < b and e > a), default=-inf)


def oracle_spans(spans, now):
    """Per host, the union of the spans cut at ``now``."""
    out = []
    for h, a, b in sorted((h, max(a, now), b) for h, a, b in spans if b > now + EPS):
        if out and out[-1][0] == h and a <= out[-1][2] + EPS:
            out[-1] = (h, out[-1][1], max(b, out[-1][2]))
        else:
            out.append((h, a, b))
    return out


def oracle_window(table, spans, stretches, small, length, before, own, mine, now):
    """``stretches`` are the spans' as measured when they were first asked for: capacity
    taken since (here the asker's own slot) only shortens them, so they stay a superset."""
    lo_start, hi_start = inf, -inf
    for h, a, b in spans:
        if h in own and a < before + length:
            lo, hi = table.longest_run(h, a, b, small, mine)
            lo = max(lo, now)
            if hi - lo >= length - EPS and lo < before:
                lo_start = min(lo_start, max(lo, a - length))
                hi_start = max(hi_start, min(b, hi - length, before))
    long_enough = [(a, b) for (h, a, b), x in zip(spans, stretches) if x >= length - EPS]
    if long_enough and min(a for a, _ in long_enough) < before + length:
        lo_start = min(lo_start, max(min(a for a, _ in long_enough) - length, now))
        hi_start = max(hi_start, min(max(b for _, b in long_enough), before))
    return None if lo_start > hi_start + EPS else (lo_start, hi_start)


times = hst.integers(0, 60).map(float)
interval = hst.tuples(times, hst.integers(1, 30).map(float)).map(lambda p: (p[0], p[0] + p[1]))
table_edits = hst.lists(hst.tuples(hst.integers(0, 3), interval, hst.sampled_from(SMALLS)), max_size=12)
span_lists = hst.lists(hst.tuples(hst.integers(0, 3), interval).map(lambda p: (p[0], *p[1])), min_size=1, max_size=8)
questions = hst.lists(hst.tuples(hst.sampled_from(SMALLS), hst.integers(1, 40).map(float), times,
                                 hst.sets(hst.integers(0, 3), max_size=2)), min_size=1, max_size=6)


def build(edits) -> SlotTable:
    table = SlotTable(Site.uniform(4))
    for h, (s, e), v in edits:
        if table.hosts[h].fits(s, e, v):
            table.reserve(h, s, e, v)
    return table


def check(table, freed, now, asks):
    spans = freed.spans
    for small, length, before, own in asks:
        best, top = freed.longest(small)
        want = [oracle_stretch(table, h, a, b, small, now) for h, a, b in spans]
        assert list(best) == want and top == max(want, default=-inf)
        held = {h for h in own if table.hosts[h].fits(before, before + length, small)}
        mine = (before, before + length) if held else None
        for h in held:
            table.reserve(h, before, before + length, small)  # the asker's own slot
        try:
            assert freed.window(small, length, before, held, mine) == oracle_window(
                table, spans, want, small, length, before, held, mine, now)
        finally:
            for h in held:
                table.release(h, before, before + length, small)
        assert freed.any_before(own, before) == any(h in own and a < before - EPS for h, a, _ in spans)


@settings(max_examples=150, deadline=None)
@given(table_edits, span_lists, hst.integers(0, 20).map(float), questions)
def test_freed_spans_answer_as_the_oracle(edits, spans, now, asks):
    table = build(edits)
    freed = FreedSpans(table, spans, now)
    assert freed.spans == oracle_spans(spans, now) and bool(freed) == bool(freed.spans)
    check(table, freed, now, asks)


@settings(max_examples=100, deadline=None)
@given(table_edits, span_lists, hst.lists(hst.tuples(hst.integers(0, 3), interval, hst.sets(hst.integers(0, 3))),
                                          min_size=1, max_size=3), questions)
def test_added_spans_remeasure_the_touched_hosts(edits, spans, moves, asks):
    """After a move (capacity back on one host, taken on others), ``add`` answers as if
    built afresh, whatever was asked (and cached) before."""
    table, now = build(edits), 0.0
    freed = FreedSpans(table, spans, now)
    for small in SMALLS:
        freed.longest(small)  # cached: add must update what it keeps
    given_back = list(spans)
    for h, (s, e), taken in moves:
        if _held(table, h, s, e, V):
            table.release(h, s, e, V)  # the moved reservation's old place
        taken = {x for x in taken if x != h and table.hosts[x].fits(e, e + 5, V)}
        for x in taken:
            table.reserve(x, e, e + 5, V)  # its new one
        freed.add([(h, s, e)], taken=taken)
        given_back.append((h, s, e))
        assert freed.spans == oracle_spans(given_back, now)
        check(table, freed, now, asks)


def _held(table, h, s, e, v) -> bool:
    """Whether ``v`` is reserved on ``h`` all over [s, e) (so that releasing it is an undo)."""
    tl = table.hosts[h]
    return all(tl.free[r][i] + x <= tl.capacity[r] + EPS
               for i, t in enumerate(tl.times)
               if t < e and (tl.times[i + 1] if i + 1 < len(tl.times) else inf) > s
               for r, x in enumerate(v))


def oracle_hosts_could_start(table, own, small, count, duration, earliest, held_from) -> bool:
    """Try every site breakpoint in [earliest, held_from), ``earliest`` itself and the
    midpoints between them; a host counts when its own timeline fits ``small`` over the
    start's window (cut at ``held_from`` on the hosts ``own``)."""
    ts = sorted({earliest, *(t for t in table.times if earliest < t < held_from)})
    starts = ts + [(a + b) / 2 for a, b in zip(ts, ts[1:] + [held_from])]
    for s in (s for s in starts if earliest <= s < held_from):
        ok = sum(table.hosts[h].fits(s, min(s + duration, held_from) if h in own else s + duration, small)
                 for h in range(table.nhosts))
        if ok >= count:
            return True
    return False


@settings(max_examples=200, deadline=None)
@given(table_edits, hst.sets(hst.integers(0, 3), max_size=3), hst.sampled_from(SMALLS), hst.integers(1, 4),
       hst.integers(1, 40).map(float), times, hst.integers(0, 90).map(float))
def test_hosts_could_start_answers_as_the_oracle(edits, own, small, count, duration, earliest, held_from):
    from galerna.schedule.hostfit import FitRuns, hosts_could_start, hosts_could_start_runs

    table = build(edits)
    got = hosts_could_start(table.grid, table.times_array(), own, small, count, duration, earliest, held_from)
    assert got == oracle_hosts_could_start(table, own, small, count, duration, earliest, held_from)
    runs = FitRuns(small, table.nhosts)
    assert hosts_could_start_runs(runs, table.hosts, table.times_array(), own, count, duration, earliest,
                                  held_from) == got


@settings(max_examples=150, deadline=None)
@given(table_edits, span_lists, span_lists, hst.integers(0, 20).map(float), questions)
def test_spans_added_on_many_hosts_at_once_merge_as_if_built_afresh(edits, spans, more, now, asks):
    """A moved lease gives back spans on all its hosts in one ``add``: those hosts' spans are
    merged anew (hosts that had none included), the others kept as they were."""
    table = build(edits)
    freed = FreedSpans(table, spans, now)
    for small in SMALLS:
        freed.longest(small)
    freed.add(more)
    assert freed.spans == oracle_spans(spans + more, now)
    check(table, freed, now, asks)


@settings(max_examples=150, deadline=None)
@given(table_edits, hst.lists(hst.tuples(hst.integers(0, 3), interval, hst.booleans()), min_size=1, max_size=8),
       hst.sets(hst.integers(0, 3), max_size=3), hst.sampled_from(SMALLS), hst.integers(1, 4),
       hst.integers(1, 40).map(float), times)
def test_fit_runs_follow_the_timelines_through_edits(edits, more, own, small, count, duration, earliest):
    """One FitRuns kept across reserves and releases (as compression keeps it) answers as the
    grid walk does after each edit: a host's runs are read anew when its timeline changed."""
    from galerna.schedule.hostfit import FitRuns, hosts_could_start, hosts_could_start_runs

    table = build(edits)
    runs = FitRuns(small, table.nhosts)
    held = []
    for h, (s, e), release in more:
        if release and held:
            table.release(*held.pop())
        elif table.hosts[h].fits(s, e, V):
            table.reserve(h, s, e, V)
            held.append((h, s, e, V))
        for held_from in (e, 90.0):
            want = hosts_could_start(table.grid, table.times_array(), own, small, count, duration, earliest, held_from)
            assert hosts_could_start_runs(runs, table.hosts, table.times_array(), own, count, duration, earliest,
                                          held_from) == want


@settings(max_examples=100, deadline=None)
@given(table_edits, span_lists, hst.lists(hst.tuples(interval, hst.lists(hst.integers(0, 3), min_size=1, max_size=4)),
                                          min_size=1, max_size=3), hst.sets(hst.integers(0, 3), max_size=2),
       hst.integers(0, 20).map(float), questions)
def test_stretches_given_back_add_as_their_spans(edits, spans, given, taken, now, asks):
    """Compression hands ``add`` what a release returned, (begin, end, hosts) stretches
    whose hosts may repeat: the same as adding each host's span once."""
    table = build(edits)
    one, other = FreedSpans(table, spans, now), FreedSpans(table, spans, now)
    for small in SMALLS:
        one.longest(small), other.longest(small)
    one.add_stretches([(s, e, tuple(hosts)) for (s, e), hosts in given], taken=taken)
    other.add([(h, s, e) for (s, e), hosts in given for h in set(hosts)], taken=taken)
    assert one.spans == other.spans == oracle_spans(spans + [(h, s, e) for (s, e), hs in given for h in hs], now)
    for small in SMALLS:
        assert list(one.longest(small)[0]) == list(other.longest(small)[0])
    check(table, one, now, asks)
