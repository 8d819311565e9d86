"""The core's one queue of due instants: when each lease's current phase starts or ends.

An entry is (time, tick, lease seq, lease version); ties go by insertion order
(the tick). A lease whose plan changed since its entry was pushed has a newer
version, and the stale entry is skipped when it comes up, instead of being
searched for and removed.
"""
from __future__ import annotations

import heapq
from math import inf
from typing import Callable, Mapping

from galerna.schedule.lease import Lease
from galerna.schedule.timeline import EPS


class EventQueue:
    def __init__(self, by_seq: Mapping[int, Lease]):
        self._by_seq = by_seq
        self._heap: list[tuple[float, int, int, int]] = []
        self._tick = 0

    def push(self, lease: Lease) -> None:
        """Queue the lease's next instant: its first phase's end if started, else its start."""
        if not lease.phases:
            return
        p = lease.phases[0]
        t = p.end if p.started else p.start
        self._tick += 1
        heapq.heappush(self._heap, (t, self._tick, lease.seq, lease.version))

    def peek(self) -> float:
        """The next live instant, or inf."""
        heap = self._heap
        while heap:
            t, _, seq, version = heap[0]
            if self._by_seq[seq].version == version:
                return t
            heapq.heappop(heap)
        return inf

    def run_due(self, now: float, step: Callable[[Lease, float], None]) -> None:
        """``step(lease, instant)`` for every live entry due by ``now``, in order; entries
        pushed by a step are seen too. (A loop here, not a generator the caller walks:
        the front door asks once per call, usually to find nothing due.)"""
        heap = self._heap
        due_by = now + EPS
        while heap and heap[0][0] <= due_by:
            t, _, seq, version = heapq.heappop(heap)
            lease = self._by_seq[seq]
            if lease.version == version:
                step(lease, t)
