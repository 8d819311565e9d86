"""Preemption: which leases make way for a lease that does not fit, found by trial.

``Preemptor.plan_for`` returns a :class:`PreemptionPlan` (the victims, cheapest
first, and the deadline victims whose remainder is to be planned once the
requester holds its slot); the front door carries it out. Each trial releases
candidates on the slot table inside its journal and rolls back, so planning
changes nothing. A deadline lease is a victim only if its remainder still fits
before its deadline: resumed after a suspension, or, when it cannot be
suspended, run again from the start (cancel and requeue).

A running lease whose plan already suspends it before the requester's window
and resumes it inside that window is a victim too, as in Haizea: its resumed
part (everything after the planned suspension) is cancelled and planned again.
"""
from __future__ import annotations

from dataclasses import dataclass

from galerna.model.lease import LeaseType
from galerna.model.state import LeaseState as S
from galerna.schedule.context import CoreContext
from galerna.schedule.lease import Activity, Lease, Phase
from galerna.schedule.phases import memories
from galerna.schedule.policies.preemption import POLICIES, cheapest_first
from galerna.schedule.search import Fresh, Resume, Search, want_of
from galerna.schedule.suspension import suspend_begin
from galerna.schedule.timeline import EPS

A = Activity


@dataclass(frozen=True)
class PreemptionPlan:
    victims: list[Lease]  # to preempt from ``at`` on, in this order
    at: float
    replan: list[Lease]  # deadline victims: plan their remainder after the requester is placed


@dataclass(frozen=True)
class Remainder:
    """Phases that finish a preempted deadline lease: a new plan, or (``append``) the
    resume after the suspension it already has planned."""
    phases: list[Phase]
    append: bool


def planned_suspension(lease: Lease, at: float) -> Phase | None:
    """The planned suspension of a running lease that ends by ``at``, when work is planned after it."""
    ph = lease.phases
    if (len(ph) > 2 and lease.state is S.ACTIVE and ph[0].started and ph[0].activity is A.RUN
            and ph[1].activity is A.SUSPEND and not ph[1].started and ph[1].end <= at + EPS):
        return ph[1]
    return None


def release_point(lease: Lease, at: float, now: float) -> float:
    """From when a victim preempted at ``at`` gives its capacity back."""
    if not lease.phases[0].started:
        return now
    susp = planned_suspension(lease, at)
    return susp.end if susp is not None else at


class Preemptor:
    def __init__(self, ctx: CoreContext, search: Search):
        self.ctx = ctx
        self.search = search
        self.policy = POLICIES[ctx.cfg.preemption]

    def may_preempt(self, lease: Lease) -> bool:
        return self.policy.may_preempt(lease)

    def plan_for(self, lease: Lease, start: float, end: float, now: float) -> PreemptionPlan | None:
        """The leases to preempt for ``lease`` to fit on [start, end), or None when no choice does."""
        candidates = self._candidates(lease, start, end)
        if not candidates:
            return None
        for _ in range(2):
            chosen, hosts = self._trial(lease, candidates, start, end, now)
            if hosts is None:
                return None
            stuck = [v for v in chosen if v.type is LeaseType.DEADLINE
                     and not self._deadline_survives(v, chosen, lease, start, end, now)]
            if not stuck:
                break
            candidates = [c for c in candidates if c not in stuck]
        else:
            return None
        return PreemptionPlan(chosen, start, [v for v in chosen if v.type is LeaseType.DEADLINE])

    def _candidates(self, requester: Lease, start: float, end: float) -> list[Lease]:
        types = self.policy.victim_types(requester)
        horizon = self.ctx.cfg.preemption_horizon
        out = []
        for lease in self.ctx.book.live:
            if lease is requester or lease.type not in types or not lease.req.preemptible:
                continue
            if horizon is not None and self.ctx.now - lease.req.submit > horizon + EPS:
                continue  # aging: it has waited long enough not to be pushed back again
            if not lease.phases or lease.state.final:
                continue
            p0 = lease.phases[0]
            overlaps = any(p.holds and p.start < end - EPS and p.end > start + EPS for p in lease.phases)
            if not overlaps:
                continue
            running = p0.activity is A.RUN and p0.end > start + EPS and lease.state is S.ACTIVE
            if p0.started and not running and planned_suspension(lease, start) is None:
                continue  # booting, suspending, resuming, migrating or shutting down: leave it be
            out.append(lease)
        out.sort(key=cheapest_first)
        return out

    def _release_all(self, chosen: list[Lease], start: float, now: float) -> None:
        for v in chosen:
            self.ctx.book.release(v, release_point(v, start, now), trial=True)

    def _trial(self, lease: Lease, candidates: list[Lease], start: float, end: float, now: float):
        slots, book = self.ctx.slots, self.ctx.book
        self.ctx.stats.trials += 1
        slots.begin()
        chosen: list[Lease] = []
        hosts = None
        try:
            for v in candidates:
                book.release(v, release_point(v, start, now), trial=True)
                chosen.append(v)
                hosts = self.ctx.mapper.map_at(lease.vecs, start, end)
                if hosts is not None:
                    break
        finally:
            slots.rollback()
        return chosen, hosts

    def _deadline_survives(self, victim: Lease, chosen: list[Lease], lease: Lease, start: float, end: float,
                           now: float) -> bool:
        """Whether a deadline lease preempted for ``lease`` could still meet its deadline."""
        slots = self.ctx.slots
        slots.begin()
        try:
            self._release_all(chosen, start, now)
            hosts = self.ctx.mapper.map_at(lease.vecs, start, end)
            if hosts is None:
                return False
            for node, h in enumerate(hosts):
                slots.reserve(h, start, end, lease.vecs[node])
            return self._remainder_if_preempted(victim, start, now) is not None
        finally:
            slots.rollback()

    def _remainder_if_preempted(self, victim: Lease, at: float, now: float) -> list[Phase] | None:
        """Phases that would finish a deadline lease preempted at ``at`` in time (not reserved)."""
        ctx = self.ctx
        p0 = victim.phases[0]
        if not p0.started:
            earliest, latest = ctx.phases.deadline_window(victim, now)
            return self.search.find(want_of(victim), earliest, latest)
        susp = planned_suspension(victim, at)
        if susp is not None:  # its resumed part is cancelled: resume it again later
            left = victim.remaining - (p0.end - p0.start)
            latest = victim.req.deadline - left - ctx.timing.resume_time(memories(victim), p0.hosts)
            return self.search.find(Resume(victim, p0.hosts, left), max(susp.end, now), latest)
        begin = suspend_begin(ctx, victim, at, now)
        if begin is None:
            return self._restart_if_cancelled(victim, at)
        remaining = victim.remaining - (begin - p0.start)
        latest = victim.req.deadline - remaining - ctx.timing.resume_time(memories(victim), p0.hosts)
        return self.search.find(Resume(victim, p0.hosts, remaining), max(at, now), latest)

    def _restart_if_cancelled(self, victim: Lease, at: float) -> list[Phase] | None:
        """Phases that would run a running deadline lease cancelled at ``at`` again from the start, in time.

        Haizea's deadline policy: cancelling qualifies when the whole requested
        run still fits after the requester and before the victim's deadline.
        """
        if not victim.preemptible:
            return None
        done = victim.remaining
        victim.remaining = self.ctx.timing.run_time(victim.req.duration)  # the work done is lost
        try:
            earliest, latest = self.ctx.phases.deadline_window(victim, at)
            return self.search.find(Fresh(victim), earliest, latest)
        finally:
            victim.remaining = done

    def remainder(self, victim: Lease, now: float) -> Remainder | None:
        """After a preemption: where a deadline victim finishes its work, or None."""
        ctx = self.ctx
        if victim.state in (S.QUEUED, S.SUSPENDED_QUEUED):
            earliest, latest = ctx.phases.deadline_window(victim, now)
            phases = self.search.find(want_of(victim), earliest, latest)
            return None if phases is None else Remainder(phases, append=False)
        # Running, with a suspension planned: plan the resume right away. (Without
        # one it will be requeued, and the queue round replans or fails it.)
        if not victim.phases or victim.phases[-1].activity is not A.SUSPEND:
            return None
        susp = victim.phases[-1]
        run = victim.phases[0]
        left = victim.remaining - (run.end - run.start)
        latest = victim.req.deadline - left - ctx.timing.resume_time(memories(victim), run.hosts)
        phases = self.search.find(Resume(victim, victim.hosts, left), susp.end, latest)
        return None if phases is None else Remainder(phases, append=True)
