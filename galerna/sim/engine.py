"""Feeds trace events to the scheduling core on a simulated clock.

The core plans with requested durations; only the simulator knows how long a
lease really runs. When a run starts it computes the real end and, if that
comes before the planned end, tells the core then — which is what a
premature end looks like to the daemon too.
"""
from __future__ import annotations

import gc
import heapq
from contextlib import contextmanager
from dataclasses import dataclass, field
from math import inf
from typing import Callable, Sequence

from galerna.config.schema import Config
from galerna.model.lease import LeaseRequest
from galerna.model.site import Site
from galerna.schedule.lease import Activity, Lease
from galerna.schedule.plan import Notice
from galerna.schedule.scheduler import LeaseScheduler
from galerna.schedule.timeline import EPS

# Allocations between young collections during a run (Python's default is 700): the core
# makes many short-lived phases and tuples, and each collection of the older generations
# walks the long-lived ledger again. 10000 cut vm-transfer's collections from 589 to 27.
RUN_GC_THRESHOLD = 10_000


@contextmanager
def _long_lived_run():
    """Collect less often while a simulation runs: what exists before it (the trace, the
    site, the modules) is frozen out of the collector's walks, and young collections
    come after RUN_GC_THRESHOLD allocations. Both are undone after the run; collection
    is never turned off. A freeze someone else made is left alone (no freeze of ours then)."""
    old = gc.get_threshold()
    freeze = gc.get_freeze_count() == 0
    if freeze:
        gc.freeze()
    gc.set_threshold(max(old[0], RUN_GC_THRESHOLD), *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)
        if freeze:
            gc.unfreeze()


@dataclass
class SimulationResult:
    site: Site
    leases: list[Lease]
    queue: list[tuple[float, int]] = field(default_factory=list)  # (time, leases waiting)
    real: dict[str, float] = field(default_factory=dict)  # lease id -> real run time
    planned: dict[str, float] = field(default_factory=dict)  # lease id -> run time planned with
    start: float = 0.0


class Simulation:
    def __init__(self, site: Site, config: Config, requests: Sequence[LeaseRequest]):
        self.site = site
        self.config = config
        self.requests = sorted(requests, key=lambda r: r.submit)
        self.start = min((r.submit for r in self.requests), default=0.0)
        self.core = LeaseScheduler(site, config, now=self.start)
        self.timing = self.core.timing
        self._ends: list[tuple[float, int, str, float]] = []
        self._tick = 0
        self.real: dict[str, float] = {}
        self.planned: dict[str, float] = {}

    def real_run(self, req: LeaseRequest) -> float:
        """How long the lease really runs, slowed down like its plan."""
        return self.timing.run_time(min(req.runtime, req.duration))

    def run(self, on_progress: Callable[[int], None] | None = None) -> SimulationResult:
        with _long_lived_run():
            return self._run(on_progress)

    def _run(self, on_progress: Callable[[int], None] | None) -> SimulationResult:
        core = self.core
        reqs = self.requests
        n = len(reqs)
        i = 0
        queue: list[tuple[float, int]] = [(self.start, 0)]
        for r in reqs:
            self.real[r.id] = self.real_run(r)
            self.planned[r.id] = self.timing.run_time(r.duration)
        # Once per event, tens of thousands of times: what the loop reads, bound once.
        ends = self._ends
        leases = core.leases
        next_event_time, advance, submit, vms_finished = core.next_event_time, core.advance, core.submit, core.vms_finished
        waiting_now = core.waiting
        started, run = Notice.PHASE_STARTED, Activity.RUN
        waiting_was = 0
        while True:
            ta = reqs[i].submit if i < n else inf
            tc = next_event_time()
            te = ends[0][0] if ends else inf
            t = min(ta, tc, te)
            if t == inf:
                break
            events = []
            while ends and ends[0][0] <= t:
                _, _, lid, run_start = heapq.heappop(ends)
                lease = leases[lid]
                p = lease.phases[0] if lease.phases else None
                if p is not None and p.activity is run and p.started and p.start == run_start and t < p.end - EPS:
                    events += vms_finished(lid, t)
            events += advance(t)
            arrived = i
            while i < n and reqs[i].submit <= t:
                events += submit(reqs[i], t)
                i += 1
            for ev in events:
                if ev.notice is started and ev.activity is run:
                    self._watch_run(leases[ev.lease_id], ev.time, ev.until)
            waiting = waiting_now()
            if waiting != waiting_was:
                queue.append((t, waiting))
                waiting_was = waiting
            if on_progress is not None and i != arrived:
                on_progress(i - arrived)
        return SimulationResult(self.site, list(core.leases.values()), queue, self.real, self.planned, self.start)

    def _watch_run(self, lease: Lease, t: float, planned_end: float) -> None:
        done = sum(p.end - p.start for p in lease.history if p.activity is Activity.RUN)
        real_end = t + self.real[lease.id] - done
        if real_end < planned_end - EPS:
            self._tick += 1
            heapq.heappush(self._ends, (real_end, self._tick, lease.id, t))
