"""A step function of free capacity over time, for one host or for the whole site.

Breakpoints live in a sorted Python list and each resource's free amount in a
parallel list, so splitting, reserving and window queries are ``bisect`` plus
a short scan of the segments inside the window — cost grows with the number
of reservations overlapping the window, not with the length of the queue.
Segments ending before ``now`` are dropped by :meth:`prune`, so a long
simulation does not drag its past along.
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from math import inf

EPS = 1e-9


class Timeline:
    __slots__ = ("times", "free", "capacity", "nres", "version")

    def __init__(self, capacity: tuple[float, ...], origin: float = 0.0):
        self.capacity = capacity
        self.nres = len(capacity)
        self.times: list[float] = [origin]
        self.free: list[list[float]] = [[c] for c in capacity]
        self.version = 0  # bumped by every change of free capacity

    # ------------------------------------------------------------------ edit
    def _split(self, t: float) -> int:
        """Index of the segment starting at ``t``, inserting a breakpoint if needed."""
        times = self.times
        i = bisect_right(times, t) - 1
        if i < 0:
            # Before the origin: extend backwards with full capacity.
            times.insert(0, t)
            for r, col in enumerate(self.free):
                col.insert(0, self.capacity[r])
            return 0
        if times[i] == t:
            return i
        times.insert(i + 1, t)
        for col in self.free:
            col.insert(i + 1, col[i])
        return i + 1

    def add(self, start: float, end: float, delta: tuple[float, ...], sign: float) -> None:
        """Subtract (sign=-1) or give back (sign=+1) ``delta`` over [start, end)."""
        if end <= start:
            return
        self.version += 1
        i = self._split(start)
        j = self._split(end)
        for r in range(self.nres):
            d = delta[r] * sign
            if d:
                col = self.free[r]
                for k in range(i, j):
                    col[k] += d
        if sign > 0:
            self._merge(j)
            self._merge(i)

    def coalesce(self, start: float, end: float) -> None:
        """Merge the breakpoints at ``start`` and ``end`` away where they separate equal
        segments. A reserve does not (a host's breakpoints count its leases), but on
        a busy link back-to-back transfers are then one segment to walk past."""
        times = self.times
        for t in (end, start):
            k = bisect_left(times, t)
            if k < len(times) and times[k] == t:
                self._merge(k)

    def reserve(self, start: float, end: float, demand: tuple[float, ...]) -> None:
        self.add(start, end, demand, -1.0)

    def release(self, start: float, end: float, demand: tuple[float, ...]) -> None:
        self.add(start, end, demand, 1.0)

    def _merge(self, i: int) -> None:
        """Drop breakpoint ``i`` when it separates two equal segments."""
        if i <= 0 or i >= len(self.times):
            return
        for col in self.free:
            if abs(col[i] - col[i - 1]) > EPS:
                return
        del self.times[i]
        for col in self.free:
            del col[i]

    def prune(self, now: float) -> None:
        """Forget segments that ended before ``now``."""
        i = bisect_right(self.times, now) - 1
        if i > 0:
            del self.times[:i]
            for col in self.free:
                del col[:i]

    # ----------------------------------------------------------------- query
    def slots(self, start: float, end: float, demand: tuple[float, ...], cap: int) -> int:
        """How many copies of ``demand`` fit over the whole of [start, end), at most ``cap``."""
        times = self.times
        i = bisect_right(times, start) - 1
        if i < 0:
            i = 0
        n = len(times)
        best = cap
        free = self.free
        while True:
            for r in range(self.nres):
                need = demand[r]
                if need > 0:
                    f = free[r][i] + EPS
                    if f < need:
                        return 0
                    k = int(f / need)
                    if k < best:
                        best = k
            i += 1
            if i >= n or times[i] >= end:
                return best

    def fits(self, start: float, end: float, demand: tuple[float, ...]) -> bool:
        return self.slots(start, end, demand, 1) >= 1

    def free_at(self, t: float) -> tuple[float, ...]:
        i = max(bisect_right(self.times, t) - 1, 0)
        return tuple(col[i] for col in self.free)

    def next_change(self, t: float) -> float:
        """First breakpoint strictly after ``t`` (inf if none)."""
        i = bisect_right(self.times, t)
        return self.times[i] if i < len(self.times) else inf

    def __len__(self) -> int:
        return len(self.times)
