"""The compiled timeline (galerna/schedule/timeline.pyx) against a tiny Python oracle.

The oracle keeps only the list of edits: the free amount at an instant is the
capacity plus every edit covering it, added in order. Random reserves and
releases are followed by random questions (free amounts, copies that fit, the
longest unbroken stretch, in-place fits, the first hole), answered by brute
force over the timeline's own segments and compared answer by answer. Demands
are multiples of 0.5, so sums are exact and no breakpoint merges unequal
segments.
"""
import pickle
from math import inf, floor

from hypothesis import given, settings
from hypothesis import strategies as hst

from galerna.schedule.timeline import EPS, Timeline

CAP = (2.0, 4.0)


class Oracle:
    def __init__(self):
        self.edits = []  # (start, end, demand, sign)

    def free(self, t):
        out = list(CAP)
        for s, e, d, sign in self.edits:
            if s <= t < e:
                for r in range(len(out)):
                    out[r] += d[r] * sign
        return out

    def fits(self, t, need):
        return all(f + EPS >= x for f, x in zip(self.free(t), need))


def segments(tl):
    """(start, end) of each of the timeline's segments; the oracle's free values come from its edits."""
    return list(zip(tl.times, tl.times[1:] + [inf]))


def oracle_slots(tl, o, start, end, need, cap):
    best = cap
    for s, e in segments(tl):
        if e > start and (s < end or s <= start):
            for f, x in zip(o.free(max(s, 0.0)), need):
                if x > 0:
                    best = min(best, floor((f + EPS) / x)) if f + EPS >= x else 0
    return best


def oracle_longest_run(tl, o, a, b, need, mine):
    m0, m1 = mine if mine is not None else (inf, -inf)
    runs, cur = [], None
    for s, e in segments(tl):
        ok = (m0 <= s and e <= m1) or o.fits(s, need)
        if ok:
            cur = [s, e] if cur is None else [cur[0], e]
        elif cur is not None:
            runs.append(cur)
            cur = None
    if cur is not None:
        runs.append(cur)
    best = (a, a)
    # The walk starts at the segment holding ``a`` and visits segments that begin before
    # ``b``: for an empty [a, a) a run counts only when ``a`` lies inside a segment.
    first = max([t for t in tl.times if t <= a], default=tl.times[0])
    for s, e in runs:  # in time order; the first of the longest wins
        if max(s, first) < b and e > a and e - s > best[1] - best[0]:
            best = (s, e)
    return best


def oracle_may_fit(tl, o, need, length, earliest, before):
    run_from = None
    for s, e in segments(tl):
        if e <= earliest or s >= before:
            if s >= before:
                break
            continue
        if o.fits(s, need):
            run_from = max(s, earliest) if run_from is None else run_from
            end = min(e, before)
            if end >= before or end - run_from >= length - EPS:
                return True
        else:
            run_from = None
    return False


def oracle_first_hole(tl, o, now, length):
    start = None
    for s, e in segments(tl):
        if e <= now:
            continue
        if o.free(s)[0] >= 1.0 - EPS:
            start = max(s, now) if start is None else start
            if e - start >= length - EPS:
                return start
        else:
            start = None
    return max(now, tl.times[-1])


edit = hst.tuples(hst.booleans(), hst.integers(0, 30).map(float), hst.integers(1, 20).map(float),
                  hst.sampled_from([(0.5, 1.0), (1.0, 2.0), (2.0, 0.0), (0.0, 4.0)]), hst.integers(0, 99))
need = hst.sampled_from([(0.5, 1.0), (1.0, 1.0), (1.5, 3.0), (0.0, 0.5), (0.0, 0.0)])
point = hst.integers(0, 60).map(float) | hst.floats(0, 60, allow_nan=False)


def build(edits):
    tl, o, held = Timeline(CAP, 0.0), Oracle(), []
    for release, s, n, d, pick in edits:
        if release and held:
            s, e, d = held.pop(pick % len(held))
            tl.release(s, e, d)
            o.edits.append((s, e, d, 1.0))
        elif not release and tl.fits(s, s + n, d):
            tl.reserve(s, s + n, d)
            o.edits.append((s, s + n, d, -1.0))
            held.append((s, s + n, d))
    return tl, o, held


@settings(max_examples=300, deadline=None)
@given(hst.lists(edit, max_size=30), hst.lists(hst.tuples(point, point, need, hst.integers(1, 9)), max_size=10))
def test_free_amounts_and_slots_match_the_oracle(edits, questions):
    tl, o, _ = build(edits)
    assert tl.times == sorted(set(tl.times)) and all(len(col) == len(tl.times) for col in tl.free)
    for a, n, d, cap in questions:
        assert list(tl.free_at(a)) == o.free(a), (a, tl.times, tl.free)
        assert tl.slots(a, a + n, d, cap) == oracle_slots(tl, o, a, a + n, d, cap), (a, n, d, cap)
        nxt = tl.next_change(a)
        assert nxt == min([t for t in tl.times if t > a], default=inf)


@settings(max_examples=300, deadline=None)
@given(hst.lists(edit, max_size=30), hst.lists(hst.tuples(point, point, need, hst.booleans()), max_size=10))
def test_longest_run_and_in_place_fits_match_the_oracle(edits, questions):
    tl, o, held = build(edits)
    for a, n, d, with_mine in questions:
        mine = held[0][:2] if with_mine and held else None
        b = a + n
        assert tl.longest_run(a, b, d, mine) == oracle_longest_run(tl, o, a, b, d, mine), (a, b, d, mine)
        assert tl.may_fit_in_place(d, n, a, b + 1) == oracle_may_fit(tl, o, d, n, a, b + 1), (a, b, d)
        assert tl.first_hole(a, n) == oracle_first_hole(tl, o, a, n), (a, n)


def test_release_merges_and_prune_forgets_the_past():
    tl = Timeline(CAP, 0.0)
    tl.reserve(5.0, 10.0, (1.0, 1.0))
    tl.reserve(10.0, 20.0, (1.0, 1.0))
    assert tl.times == [0.0, 5.0, 10.0, 20.0]  # a reserve keeps its breakpoints (they count leases)
    v = tl.version
    tl.release(10.0, 20.0, (1.0, 1.0))
    assert tl.times == [0.0, 5.0, 10.0] and tl.version == v + 1
    tl.coalesce(5.0, 10.0)
    assert tl.times == [0.0, 5.0, 10.0]  # 5 and 10 still separate different amounts
    tl.prune(7.0)
    assert tl.times == [5.0, 10.0] and tl.free == [[1.0, 2.0], [3.0, 4.0]]
    tl.reserve(-3.0, 1.0, (2.0, 0.0))  # before the first breakpoint: full capacity there
    assert tl.times == [-3.0, 1.0, 5.0, 10.0] and tl.free[0] == [0.0, 2.0, 1.0, 2.0]
    assert len(tl) == 4 and tl.fits(1.0, 5.0, (2.0, 4.0)) and not tl.fits(0.0, 5.0, (2.0, 4.0))


def test_a_timeline_survives_pickling_and_hands_back_now_as_given():
    tl = Timeline(CAP, 0)
    tl.reserve(3, 8.0, (1.0, 1.0))
    copy = pickle.loads(pickle.dumps(tl))
    assert (copy.times, copy.free, copy.capacity, copy.version) == (tl.times, tl.free, tl.capacity, tl.version)
    assert tl.times == [0.0, 3.0, 8.0] and [type(t) for t in tl.times] == [float] * 3  # C doubles inside
    copy.reserve(8.0, 9.0, (2.0, 0.0))  # the copy's arrays are its own
    assert copy.times == [0.0, 3.0, 8.0, 9.0] and tl.times == [0.0, 3.0, 8.0]
    assert tl.first_hole(1, 3.0) == 1 and type(tl.first_hole(1, 3.0)) is int  # under way at now: now as given
    assert tl.first_hole(0, 3.0) == 0 and type(tl.first_hole(0, 3.0)) is float  # starting at a breakpoint


class ListTimeline:
    """The timeline as the Python lists it once was (split, add, merge, prune): the oracle for
    the C arrays' bookkeeping (inserts at either end, deletes, the start moved by a prune,
    compaction and growth), breakpoint by breakpoint."""

    def __init__(self, cap, origin):
        self.cap, self.times, self.free = cap, [origin], [[c] for c in cap]

    def split(self, t):
        i = max([k for k, x in enumerate(self.times) if x <= t], default=-1)
        if i >= 0 and self.times[i] == t:
            return i
        self.times.insert(i + 1, t)
        for r, col in enumerate(self.free):
            col.insert(i + 1, col[i] if i >= 0 else self.cap[r])
        return i + 1

    def add(self, s, e, d, sign):
        i, j = self.split(s), self.split(e)
        for col, x in zip(self.free, d):
            col[i:j] = [f + x * sign for f in col[i:j]] if x else col[i:j]
        if sign > 0:
            for k in (j, i):
                if 0 < k < len(self.times) and all(abs(col[k] - col[k - 1]) <= EPS for col in self.free):
                    del self.times[k]
                    for col in self.free:
                        del col[k]

    def prune(self, now):
        i = max([k for k, x in enumerate(self.times) if x <= now], default=-1)
        if i > 0:
            del self.times[:i]
            for col in self.free:
                del col[:i]


step = hst.tuples(hst.sampled_from(["reserve"] * 5 + ["release"] * 3 + ["prune"]), hst.integers(-5, 100).map(float),
                  hst.integers(1, 40).map(float), hst.sampled_from([(0.5, 1.0), (1.0, 2.0), (0.0, 4.0)]),
                  hst.integers(0, 999))


@settings(max_examples=60, deadline=None)
@given(hst.lists(step, min_size=200, max_size=400))  # long enough for the buffers to fill behind a prune
def test_the_arrays_keep_the_lists_breakpoints_through_inserts_deletes_and_prunes(steps):
    tl, o, held, now = Timeline(CAP, 0.0), ListTimeline(CAP, 0.0), [], 0.0
    for kind, s, n, d, pick in steps:
        s += now  # edits mostly ahead of now, as in a run; some before the first breakpoint
        if kind == "prune":
            now = max(now, s - 70.0)  # now only moves on
            tl.prune(now)
            o.prune(now)
        elif kind == "release" and held:
            s, e, d = held.pop(pick % len(held))
            tl.release(s, e, d)
            o.add(s, e, d, 1.0)
        elif tl.fits(s, s + n, d):
            tl.reserve(s, s + n, d)
            o.add(s, s + n, d, -1.0)
            held.append((s, s + n, d))
        assert (tl.times, tl.free) == (o.times, o.free), (kind, s, n, d)
        assert len(tl) == len(o.times)
    copy = pickle.loads(pickle.dumps(tl))
    assert (copy.times, copy.free) == (o.times, o.free)
