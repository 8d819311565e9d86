"""The slot table: availability of every host over time.

One :class:`Timeline` per host plus one for the whole site. The site-wide
timeline answers the cheap question first ("is there enough capacity in
total over this window?") so the per-host question is only asked at instants
that can possibly work. Every change can be recorded in a journal and undone,
which is how the scheduler tries a preemption and backs out of it.
"""
from __future__ import annotations

from bisect import bisect_right
from math import inf

from galerna.model.site import Site
from galerna.schedule.timeline import EPS, Timeline


class SlotTable:
    def __init__(self, site: Site, origin: float = 0.0):
        self.site = site
        self.caps = [site.capacity(i) for i in range(len(site))]
        self.hosts = [Timeline(c, origin) for c in self.caps]
        total = tuple(sum(c[r] for c in self.caps) for r in range(len(site.resource_types)))
        self.total = Timeline(total, origin)
        self.enabled = [True] * len(self.hosts)
        # (host, start, end, demand, sign, is-site-timeline) for rollback
        self._journal: list[tuple[int, float, float, tuple[float, ...], float, bool]] | None = None

    # ------------------------------------------------------------------ edit
    def reserve(self, host: int, start: float, end: float, demand: tuple[float, ...]) -> None:
        self._apply(host, start, end, demand, -1.0)

    def release(self, host: int, start: float, end: float, demand: tuple[float, ...]) -> None:
        self._apply(host, start, end, demand, 1.0)

    def reserve_all(self, start: float, end: float, placed: list[tuple[int, tuple[float, ...]]]) -> None:
        """Reserve several VMs over one interval: one edit per host, one for the site."""
        self._apply_all(start, end, placed, -1.0)

    def release_all(self, start: float, end: float, placed: list[tuple[int, tuple[float, ...]]]) -> None:
        self._apply_all(start, end, placed, 1.0)

    def _apply_all(self, start: float, end: float, placed: list[tuple[int, tuple[float, ...]]], sign: float) -> None:
        if end - start <= EPS:
            return
        per_host: dict[int, list[float]] = {}
        total = [0.0] * self.total.nres
        for h, v in placed:
            acc = per_host.get(h)
            if acc is None:
                per_host[h] = list(v)
            else:
                for r, x in enumerate(v):
                    acc[r] += x
            for r, x in enumerate(v):
                total[r] += x
        for h, acc in per_host.items():
            self.hosts[h].add(start, end, tuple(acc), sign)
            if self._journal is not None:
                self._journal.append((h, start, end, tuple(acc), sign, False))
        self.total.add(start, end, tuple(total), sign)
        if self._journal is not None:
            self._journal.append((-1, start, end, tuple(total), sign, True))

    def _apply(self, host: int, start: float, end: float, demand: tuple[float, ...], sign: float) -> None:
        if end - start <= EPS:
            return
        self.hosts[host].add(start, end, demand, sign)
        self.total.add(start, end, demand, sign)
        if self._journal is not None:
            self._journal.append((host, start, end, demand, sign, False))
            self._journal.append((-1, start, end, demand, sign, True))

    def begin(self) -> None:
        """Start recording changes so that :meth:`rollback` can undo them."""
        self._journal = []

    def commit(self) -> None:
        self._journal = None

    def rollback(self) -> None:
        journal, self._journal = self._journal or [], None
        for host, start, end, demand, sign, site in reversed(journal):
            (self.total if site else self.hosts[host]).add(start, end, demand, -sign)

    def prune(self, now: float) -> None:
        for tl in self.hosts:
            tl.prune(now)
        self.total.prune(now)

    # ----------------------------------------------------------------- query
    def total_fits(self, start: float, end: float, demand: tuple[float, ...]) -> float:
        """``start`` if the site as a whole has ``demand`` over [start, end), else
        the earliest instant after the first blocking segment (a lower bound on
        any feasible start)."""
        tl = self.total
        times, free = tl.times, tl.free


        i = max(bisect_right(times, start) - 1, 0)
        n = len(times)
        while True:
            for r in range(tl.nres):
                if free[r][i] + EPS < demand[r]:
                    return times[i + 1] if i + 1 < n else inf
            i += 1
            if i >= n or times[i] >= end:
                return start

    def window_free(self, host: int, start: float, end: float) -> list[float] | None:
        """Per-resource minimum of free capacity on ``host`` over [start, end)."""
        if not self.enabled[host]:
            return None
        tl = self.hosts[host]
        times = tl.times
        if times[-1] <= start:
            return [col[-1] for col in tl.free]


        i = max(bisect_right(times, start) - 1, 0)
        n = len(times)
        j = i + 1
        while j < n and times[j] < end:
            j += 1
        return [min(col[i:j]) for col in tl.free]

    def longest_run(
        self, host: int, a: float, b: float, demand: tuple[float, ...], mine: tuple[float, float] | None = None
    ) -> tuple[float, float]:
        """Of the intervals in which one ``demand`` fits on ``host`` without a break,
        the longest one that overlaps [a, b): its (start, end), or (a, a) if none.

        ``mine`` is an interval the asking lease itself holds on this host: there
        one of its VMs fits by definition, so it counts as free.
        """
        tl = self.hosts[host]
        times, free = tl.times, tl.free
        nres = tl.nres
        n = len(times)
        m0, m1 = mine if mine is not None else (inf, -inf)

        def ok(k: int) -> bool:
            if m0 <= times[k] and (k + 1 >= n or times[k + 1] <= m1):
                return True
            for r in range(nres):
                if free[r][k] + EPS < demand[r]:
                    return False
            return True

        i = max(bisect_right(times, a) - 1, 0)
        best = (a, a)
        while i < n and times[i] < b:
            if not ok(i):
                i += 1
                continue
            lo = i
            while lo > 0 and ok(lo - 1):
                lo -= 1
            hi = i
            while hi + 1 < n and ok(hi + 1):
                hi += 1
            end = times[hi + 1] if hi + 1 < n else inf
            if end - times[lo] > best[1] - best[0]:
                best = (times[lo], end)
            i = hi + 1
        return best
