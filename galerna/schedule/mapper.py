"""Placing a lease's VMs on hosts for an interval.

``map_at`` answers "can these VMs run on [start, end), and where?";
``earliest`` walks candidate start instants — the site-wide timeline first,
skipping past any segment where the site as a whole lacks capacity — and asks
``map_at`` only where the totals allow it.
"""
from __future__ import annotations

from bisect import bisect_right
from math import inf
from typing import Sequence

from galerna.schedule.policies.host_selection import Ordering
from galerna.schedule.slottable import SlotTable
from galerna.schedule.timeline import EPS

Vec = tuple[float, ...]


def total_demand(vecs: Sequence[Vec]) -> Vec:
    return tuple(sum(v[r] for v in vecs) for r in range(len(vecs[0])))


class Mapper:
    def __init__(self, slots: SlotTable, ordering: Ordering):
        self.slots = slots
        self.ordering = ordering

    def map_fixed(self, vecs: Sequence[Vec], hosts: Sequence[int], start: float, end: float) -> bool:
        """Whether each VM fits on the host given for it (resuming in place)."""
        need: dict[int, list[float]] = {}
        for v, h in zip(vecs, hosts):
            acc = need.setdefault(h, [0.0] * len(v))
            for r, x in enumerate(v):
                acc[r] += x
        for h, acc in need.items():
            free = self.slots.window_free(h, start, end)
            if free is None or any(f + EPS < a for f, a in zip(free, acc)):
                return False
        return True

    def map_at(
        self, vecs: Sequence[Vec], start: float, end: float, exclude: frozenset[int] = frozenset()
    ) -> tuple[int, ...] | None:
        """Hosts for each VM over [start, end), or None when they do not all fit."""
        slots = self.slots
        n = len(vecs)
        uniform = all(v == vecs[0] for v in vecs)
        want = vecs[0] if uniform else min_vec(vecs)
        needs = [(r, x) for r, x in enumerate(want) if x > 0]
        enabled = slots.enabled
        # Pass 1: how many VMs fit on each host over the window (the min of each
        # resource over the window's segments, taken with C-level slicing).
        fitting = []
        capacity = 0
        for h, tl in enumerate(slots.hosts):
            if not enabled[h] or h in exclude:
                continue
            times = tl.times
            nt = len(times)
            if times[-1] <= start:
                i, j = nt - 1, nt
            else:
                i = bisect_right(times, start) - 1
                if i < 0:
                    i = 0
                j = i + 1
                while j < nt and times[j] < end:
                    j += 1
            free = tl.free
            k = 1 << 30
            for r, x in needs:
                col = free[r]
                m = col[i] if j - i == 1 else min(col[i:j])
                c = int((m + EPS) / x)
                if c < k:
                    k = c
                    if k <= 0:
                        break
            if k > 0:
                fitting.append((h, i, j))
                capacity += k if uniform else 1
        if (uniform and capacity < n) or not fitting:
            return None
        # Pass 2, only when it can work: free vectors for ranking and filling.
        infos = []
        for h, i, j in fitting:
            tl = slots.hosts[h]
            infos.append((h, [col[i] if j - i == 1 else min(col[i:j]) for col in tl.free], len(tl.times)))
        order, fill = self.ordering(infos)
        free_of = {h: list(f) for h, f, _ in infos}
        # Largest VMs first so that a heterogeneous lease does not strand its big VMs.
        idx = sorted(range(n), key=lambda i: tuple(-x for x in vecs[i]))
        placed: list[int] = [-1] * n
        if fill:
            pos = 0
            for i in idx:
                v = vecs[i]
                while pos < len(order) and not _fits(free_of[order[pos]], v):
                    pos += 1
                if pos == len(order):
                    # A smaller VM may still fit on an earlier host.
                    h = next((h for h in order if _fits(free_of[h], v)), None)
                    if h is None:
                        return None
                else:
                    h = order[pos]
                _take(free_of[h], v)
                placed[i] = h
        else:
            ring = list(order)
            k = 0
            for i in idx:
                v = vecs[i]
                for _ in range(len(ring)):
                    h = ring[k % len(ring)]
                    k += 1
                    if _fits(free_of[h], v):
                        break
                else:
                    return None
                _take(free_of[h], v)
                placed[i] = h
        return tuple(placed)

    def earliest(
        self,
        vecs: Sequence[Vec],
        duration: float,
        earliest: float,
        latest_start: float = inf,
        exclude: frozenset[int] = frozenset(),
    ) -> tuple[float, tuple[int, ...]] | None:
        """Earliest start >= ``earliest`` (and <= ``latest_start``) where all VMs fit for ``duration``."""
        need = total_demand(vecs)
        slots = self.slots
        t = earliest
        while t <= latest_start + EPS and t != inf:
            t2 = slots.total_fits(t, t + duration, need)
            if t2 != t:
                t = t2
                continue
            hosts = self.map_at(vecs, t, t + duration, exclude)
            if hosts is not None:
                return t, hosts
            t = slots.total.next_change(t)
        return None


def _fits(free: list[float], v: Vec) -> bool:
    return all(f + EPS >= x for f, x in zip(free, v))


def _take(free: list[float], v: Vec) -> None:
    for r, x in enumerate(v):
        free[r] -= x


def min_vec(vecs: Sequence[Vec]) -> Vec:
    return tuple(min(v[r] for v in vecs) for r in range(len(vecs[0])))
