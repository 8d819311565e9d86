"""Pure phase building: the phases of a lease's next stretch of work, from the time model.

Nothing here reads or changes the slot table or a lease's state: given a lease,
a start and hosts, it says which phases (boot, run, suspend, resume, migrate,
shutdown) follow and how long each takes.
"""
from __future__ import annotations

from math import inf

from galerna.config.schema import SchedulingConfig
from galerna.model.lease import LeaseType
from galerna.model.state import LeaseState
from galerna.schedule.lease import Activity, Lease, Phase
from galerna.schedule.timeline import EPS
from galerna.schedule.timing import Timing

A = Activity
Stretch = tuple[float, float, tuple[int, ...]]


def stretches(phases: list[Phase], from_t: float = -inf) -> list[Stretch]:
    """The capacity the phases hold from ``from_t`` on, back-to-back phases on the same
    hosts joined (boot, run and shutdown are one interval to the slot table: half
    the breakpoints, a third of the edits)."""
    out: list[Stretch] = []
    for p in phases:
        if not p.holds:
            continue
        s = max(p.start, from_t)
        if p.end <= s + EPS:
            continue
        if out and out[-1][2] == p.hosts and out[-1][1] == s:
            out[-1] = (out[-1][0], p.end, p.hosts)
        else:
            out.append((s, p.end, p.hosts))
    return out


def begins(phases: list[Phase]) -> float:
    """Where a plan starts to hold capacity: the lease's start, a transfer before it
    being preparation."""
    for p in phases:
        if p.holds:
            return p.start
    return phases[0].start


def held_start(phases: list[Phase]) -> float:
    return next(p.start for p in phases if p.holds)


def chain(t: float, steps: list[tuple[Activity, float]], hosts: tuple[int, ...]) -> list[Phase]:
    """Back-to-back phases on the same hosts from ``t``; steps of no length are left out."""
    out = []
    for act, length in steps:
        if length > 0 or act is A.RUN:
            out.append(Phase(act, t, t + length, hosts))
            t += length
    return out


def memories(lease: Lease) -> list[float]:
    return [n.get("memory", 0.0) for n in lease.req.nodes]


def image_mb(lease: Lease) -> float:
    return lease.req.image.size_mb if lease.req.image else 0.0


class PhaseBuilder:
    """Phases and windows of a lease under one configuration's time model."""

    def __init__(self, cfg: SchedulingConfig, timing: Timing):
        self.cfg = cfg
        self.timing = timing
        # Read per re-plan and per compression candidate: the configuration's two
        # overheads as plain floats (the configuration does not change under a core).
        self._boot = cfg.boot_overhead
        self._shutdown = cfg.shutdown_time

    def boot_time(self, lease: Lease) -> float:
        return 0.0 if lease.req.type is LeaseType.IM else self._boot

    def shutdown(self, t: float, hosts: tuple[int, ...]) -> list[Phase]:
        s = self._shutdown
        return [Phase(A.SHUTDOWN, t, t + s, hosts)] if s > 0 else []

    def fresh(self, lease: Lease, start: float, hosts: tuple[int, ...]) -> list[Phase]:
        """Boot, run, shut down from ``start``: ``chain`` of those three steps, written out
        (it runs once per search)."""
        boot = 0.0 if lease.req.type is LeaseType.IM else self._boot
        out = []
        t = start
        if boot > 0:
            out.append(Phase(A.BOOT, t, t + boot, hosts))
            t += boot
        run = lease.remaining
        out.append(Phase(A.RUN, t, t + run, hosts))
        s = self._shutdown
        if s > 0:
            t += run
            out.append(Phase(A.SHUTDOWN, t, t + s, hosts))
        return out

    def fresh_length(self, lease: Lease) -> float:
        return (0.0 if lease.req.type is LeaseType.IM else self._boot) + lease.remaining + self._shutdown

    def resume(self, lease: Lease, start: float, hosts: tuple[int, ...], remaining: float,
               saved_on: tuple[int, ...] | None) -> list[Phase]:
        """Resume ``remaining`` run time on ``hosts``, moving the saved state from ``saved_on`` first."""
        mems = memories(lease)
        steps = [
            (A.MIGRATE, self.timing.migrate_time(mems, image_mb(lease), saved_on or hosts, hosts)),
            (A.RESUME, self.timing.resume_time(mems, hosts)),
            (A.RUN, remaining),
            (A.SHUTDOWN, self.cfg.shutdown_time),
        ]
        return chain(start, steps, hosts)

    def deadline_window(self, lease: Lease, now: float) -> tuple[float, float]:
        earliest = max(now + self.cfg.non_schedulable_interval, lease.req.start or 0.0)
        # The run (not the shutdown) must end by the deadline.
        latest = lease.req.deadline - (self.fresh_length(lease) - self._shutdown)
        return earliest, latest

    def start_window(self, lease: Lease, now: float) -> tuple[float, float]:
        """(earliest, latest) start of the lease's next stretch of work, planned at ``now``."""
        if lease.type is LeaseType.DEADLINE:
            earliest, latest = self.deadline_window(lease, now)
            if lease.state in (LeaseState.SUSPENDED_QUEUED, LeaseState.SUSPENDED_SCHEDULED):
                latest = lease.req.deadline - lease.remaining - self.timing.resume_time(memories(lease), lease.hosts or ())
            return earliest, latest
        return now + self.cfg.non_schedulable_interval, inf
