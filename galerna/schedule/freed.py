"""Host-intervals given back since the last compression, and whom they could serve.

Compression (moving reservations earlier after a premature end) must not
re-plan every reservation: only a lease for which some freed host-interval
lies inside a stretch long enough for one of its VMs can have gained an
earlier start. For every freed span this answers "how long is the longest
free stretch for one VM of this size that overlaps it?" for all spans at once
from the slot table's grid, cached per VM size until more spans are freed
(capacity taken meanwhile only shortens stretches, so the filter stays a
superset), and ranked so that the per-lease filter is a bisection.
"""
from __future__ import annotations

from bisect import bisect_right
from math import inf
from typing import Iterable

import numpy as np

from galerna.schedule.slottable import SlotTable
from galerna.schedule.timeline import EPS

Span = tuple[int, float, float]


def merge_spans(spans: list[Span]) -> list[Span]:
    """Per host, the union of the spans as disjoint intervals."""
    out: list[Span] = []
    for h, a, b in sorted(spans):
        if out and out[-1][0] == h and a <= out[-1][2] + EPS:
            if b > out[-1][2]:
                out[-1] = (h, out[-1][1], b)
        else:
            out.append((h, a, b))
    return out


class FreedSpans:
    def __init__(self, slots: SlotTable, spans: list[Span], now: float):
        self.slots = slots
        self.now = now
        self.spans = merge_spans([(h, max(a, now), b) for h, a, b in spans if b > now + EPS])
        self._cache: dict[tuple[float, ...], tuple[np.ndarray, float]] = {}
        self._ranks: dict[tuple[float, ...], tuple[list[float], list[float], list[float]]] = {}
        self._index()

    def __bool__(self) -> bool:
        return bool(self.spans)

    def add(self, spans: list[Span], taken: Iterable[int] = ()) -> None:
        """More freed spans: a reservation moved away from them, to hosts ``taken``.
        Stretches are measured anew on the hosts whose capacity changed; on the
        others they are as they were."""
        new = [(h, max(a, self.now), b) for h, a, b in spans if b > self.now + EPS]
        touched = np.zeros(self.slots.nhosts, dtype=bool)
        touched[[h for h, _, _ in new]] = True
        touched[list(taken)] = True
        kept_before = ~touched[self.host]
        self.spans = merge_spans(self.spans + new)
        self._index()
        kept = ~touched[self.host]  # untouched spans keep their order through the merge
        fresh = np.flatnonzero(~kept)
        for small, (old, _) in list(self._cache.items()):
            best = np.empty(len(self.spans))
            best[kept] = old[kept_before]
            best[fresh] = self._stretches(small, fresh)
            self._cache[small] = (best, float(best.max()) if len(best) else -inf)
        self._ranks.clear()

    def any_before(self, hosts: set[int], t: float) -> bool:
        """Whether some span on one of ``hosts`` begins before ``t``."""
        spans = self.spans
        return any(spans[k][1] < t - EPS for h in hosts & self.hosts for k in self.by_host[h])

    def _index(self) -> None:
        """Spans are sorted by host (see merge_spans): each host's are one run."""
        arr = np.array(self.spans, dtype=float).reshape(len(self.spans), 3)
        self.host = arr[:, 0].astype(np.intp)
        self.a = arr[:, 1]
        self.b = arr[:, 2]
        self.cols, first, counts = np.unique(self.host, return_index=True, return_counts=True)
        self.col = np.repeat(np.arange(len(self.cols)), counts)  # each span's column in ``cols``
        self.hosts = set(self.cols.tolist())
        self.by_host: dict[int, range] = {
            h: range(f, f + c) for h, f, c in zip(self.cols.tolist(), first.tolist(), counts.tolist())}

    def longest(self, small: tuple[float, ...]) -> tuple[np.ndarray, float]:
        """Per span, the length (from now) of the longest stretch in which one VM of
        size ``small`` fits on the span's host without a break and that overlaps the
        span; and the longest of those."""
        got = self._cache.get(small)
        if got is None:
            best = self._stretches(small)
            got = self._cache[small] = (best, float(best.max()) if len(best) else -inf)
        return got

    def _stretches(self, small: tuple[float, ...], only: np.ndarray | None = None) -> np.ndarray:
        """For every span (or the spans ``only``), the longest stretch overlapping it
        (see :meth:`longest`)."""
        slots = self.slots
        cols, col, a, b = self.cols, self.col, self.a, self.b
        if only is not None:
            cols = np.unique(self.host[only])
            col = np.searchsorted(cols, self.host[only])
            a, b = a[only], b[only]
        n = slots.n
        t = slots.times_array()  # n + 1 entries, the last one inf
        grid = slots.grid[:, cols]
        ok = None  # (rows, hosts): one VM of size ``small`` fits
        for r, x in enumerate(small):
            if x > 0:
                fits = grid[:, :, r] + EPS >= x
                ok = fits if ok is None else ok & fits
        if ok is None:
            ok = np.ones(grid.shape[:2], dtype=bool)
        rows = np.arange(n)[:, None]
        last_bad = np.maximum.accumulate(np.where(ok, -1, rows), axis=0)
        next_bad = np.minimum.accumulate(np.where(ok, n, rows)[::-1], axis=0)[::-1]
        length = np.where(ok, t[next_bad] - np.maximum(t[last_bad + 1], self.now), -inf)
        flat = np.append(length.T.ravel(), -inf)  # host-major: host h's rows are contiguous
        ka = np.maximum(np.searchsorted(t[:n], a, side="right") - 1, 0)
        kb = np.maximum(np.searchsorted(t[:n], b, side="left"), ka + 1)
        bounds = np.empty(2 * len(ka), dtype=np.intp)
        bounds[0::2] = col * n + ka
        bounds[1::2] = col * n + kb
        return np.maximum.reduceat(flat, bounds)[0::2] if len(ka) else np.empty(0)

    def _ranked(self, small: tuple[float, ...]) -> tuple[list[float], list[float], list[float]]:
        """Spans by decreasing stretch: minus the stretch, and running min begin / max end."""
        got = self._ranks.get(small)
        if got is not None:
            return got
        best, _ = self.longest(small)
        order = np.argsort(-best, kind="stable")
        ranked = ((-best[order]).tolist(), np.minimum.accumulate(self.a[order]).tolist(),
                  np.maximum.accumulate(self.b[order]).tolist())
        self._ranks[small] = ranked
        return ranked

    def window(
        self, small: tuple[float, ...], length: float, before: float, own: set[int], mine: tuple[float, float] | None
    ) -> tuple[float, float] | None:
        """The range of starts at which freed capacity could serve a lease, or None.

        A start can only have become feasible if its window touches a freed span
        lying in a stretch of that host long enough for one of the lease's VMs.
        On the lease's own hosts its own slot counts as free, so those spans are
        measured one by one.
        """
        now = self.now
        best, longest = self.longest(small)
        lo_start, hi_start = inf, -inf
        hit = own & self.hosts
        for h in hit:
            for k in self.by_host[h]:
                _, a, b = self.spans[k]
                if a >= before + length:
                    continue
                lo, hi = self.slots.longest_run(h, a, b, small, mine)
                lo = max(lo, now)
                if hi - lo >= length - EPS and lo < before:
                    lo_start = min(lo_start, max(lo, a - length))
                    hi_start = max(hi_start, min(b, hi - length, before))
        if longest >= length - EPS:
            # Spans whose stretch is long enough: the k longest (a bisection), and over
            # them the earliest begin and the latest end (prefix extremes). Hit spans
            # are in there with their stretch measured without the lease's own slot,
            # a shorter one, so the range stays a superset.
            neg_best, first_a, last_b = self._ranked(small)
            k = bisect_right(neg_best, -(length - EPS))
            if k and first_a[k - 1] < before + length:
                lo_start = min(lo_start, max(first_a[k - 1] - length, now))
                hi_start = max(hi_start, min(last_b[k - 1], before))
        if lo_start > hi_start + EPS:
            return None
        return lo_start, hi_start
