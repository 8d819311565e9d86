"""Placing a lease's VMs on hosts for an interval.

``map_at`` answers "can these VMs run on [start, end), and where?";
``earliest`` walks candidate start instants — the site-wide timeline first,
skipping past any segment where the site as a whole lacks capacity — and asks
``map_at`` only where the totals allow it.
"""
from __future__ import annotations

from math import inf
from typing import Sequence

import numpy as np

from galerna.schedule.gridsearch import fit_counts, fits_on
from galerna.schedule.placement import (GREEDY, NOT_ALIKE, PACKING, STRIPING, alike, earliest_alike, place_alike,
                                        total_demand)
from galerna.schedule.policies.host_selection import Ordering, greedy, packing, striping
from galerna.schedule.slottable import SlotTable, demand_per_host
from galerna.schedule.timeline import EPS

Vec = tuple[float, ...]


# total_demand(vecs) -> Vec: the VMs' demands summed resource by resource (compiled: placement.pyx).


class Mapper:
    def __init__(self, slots: SlotTable, ordering: Ordering):
        self.slots = slots
        self.ordering = ordering
        # The policies placement.pyx ranks by itself (alike VMs, two or more resources).
        code = {greedy: GREEDY, packing: PACKING, striping: STRIPING}.get(ordering)
        self._compiled = code if code is not None and slots.nres >= 2 else None

    def map_fixed(self, vecs: Sequence[Vec], hosts: Sequence[int], start: float, end: float) -> bool:
        """Whether each VM fits on the host given for it (resuming in place)."""
        need = demand_per_host(zip(hosts, vecs))
        slots = self.slots
        enabled = slots.enabled
        for h in need:
            if not enabled[h]:
                return False
        return fits_on(slots._grid, slots.times, list(need), list(need.values()), start, end)  # compiled: gridsearch.pyx

    def map_at(
        self, vecs: Sequence[Vec], start: float, end: float, exclude: frozenset[int] = frozenset()
    ) -> tuple[int, ...] | None:
        """Hosts for each VM over [start, end), or None when they do not all fit."""
        slots = self.slots
        n = len(vecs)
        free = slots.window(start, end)  # (hosts, resources): least free over the window
        uniform = alike(vecs)
        want = vecs[0] if uniform else min_vec(vecs)
        blocked = None
        if exclude or not all(slots.enabled):
            blocked = [h for h in range(slots.nhosts) if not slots.enabled[h] or h in exclude]
        if uniform and self._compiled is not None:
            return place_alike(free, want, n, blocked, slots.load, self._compiled)  # compiled: placement.pyx
        counts = fit_counts(free, want, n, blocked)  # compiled: gridsearch.pyx
        fitting = np.flatnonzero(counts > 0)
        if not len(fitting) or (uniform and counts.sum() < n):
            return None
        order, fill = self.ordering(fitting, free[fitting], slots.load)
        if uniform:
            per_host = np.minimum(counts[order], n).astype(int)
            if fill:
                seq = np.repeat(order, per_host)
            else:  # round robin: one VM per host per round
                seq = np.concatenate([order[per_host > r] for r in range(int(per_host.max()))])
            return tuple(int(h) for h in seq[:n])
        free_of = {int(h): [float(x) for x in free[h]] for h in order}
        order = [int(h) for h in order]
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
            ring = order
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
        slots = self.slots
        if self._compiled is not None:
            got = earliest_alike(slots, vecs, duration, earliest, latest_start, exclude,
                                 self._compiled)  # compiled: placement.pyx, the same walk as below
            if got is not NOT_ALIKE:
                return got
        need = total_demand(vecs)
        t = earliest
        while t <= latest_start + EPS and t != inf:
            t2 = slots.total_fits(t, t + duration, need)
            if t2 != t:
                t = t2
                continue
            hosts = self.map_at(vecs, t, t + duration, exclude)
            if hosts is not None:
                return t, hosts
            t = slots.next_change(t)
        return None


def _fits(free: list[float], v: Vec) -> bool:
    return all(f + EPS >= x for f, x in zip(free, v))


def _take(free: list[float], v: Vec) -> None:
    for r, x in enumerate(v):
        free[r] -= x


def min_vec(vecs: Sequence[Vec]) -> Vec:
    return tuple(min(v[r] for v in vecs) for r in range(len(vecs[0])))
