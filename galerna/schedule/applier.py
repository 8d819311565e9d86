"""The one place where a lease's plan and state change.

The front door (``scheduler.py``) checks a call and hands the applier either
the call itself (a lease stops early, is cancelled, failed, requeued, has its
end moved, is restored) or a decision a module returned (Accept, Refuse,
Preempt, Place, Fail, Move). The applier edits the lease, holds or releases
its capacity in the ledger, steps it through the phase tables of
``lifecycle.py`` and writes the notices to its outbox.

One class, not several: every method is a short sequence over the same three
things (ledger, lease, outbox), and splitting it would only scatter the state
machine that this file exists to keep in one piece.
"""
from __future__ import annotations

from math import inf

from galerna.model.lease import LeaseRequest, LeaseType
from galerna.model.state import LeaseState as S
from galerna.schedule.admission import Admission
from galerna.schedule.compression import Compressor
from galerna.schedule.context import CoreContext
from galerna.schedule.decisions import Accept, Fail, Preempt, Refuse
from galerna.schedule.lease import Activity, Lease, Phase
from galerna.schedule.lifecycle import ON_END, ON_START, end_lost
from galerna.schedule.plan import ChangeRefused, Event, Notice, PreemptMode, Refusal
from galerna.schedule.preemption import PreemptionPlan, Preemptor, planned_suspension
from galerna.schedule.suspension import suspend_begin
from galerna.schedule.timeline import EPS

A = Activity
_STARTED, _ENDED = Notice.PHASE_STARTED, Notice.PHASE_ENDED


def _held_from(phases: list[Phase], now: float) -> list[Phase]:
    """The phases as the slot table holds them: a started one from ``now`` on."""
    return [p if not p.started else Phase(p.activity, max(now, p.start), p.end, p.hosts, p.holds) for p in phases]


def _vectors(site, nodes) -> tuple[tuple[float, ...], ...]:
    """The VMs' demands in site order; a VM given by the same mapping object as the one
    before it (the readers' gangs of identical VMs) shares that VM's vector, read once."""
    out = []
    last = vec = None
    for n in nodes:
        if n is not last:
            vec, last = site.vector(n), n
        out.append(vec)
    return tuple(out)


class Applier:
    def __init__(self, ctx: CoreContext, admission: Admission, preemptor: Preemptor, compressor: Compressor):
        self.ctx = ctx
        self.book = ctx.book
        self.admission = admission
        self.preemptor = preemptor
        self.compressor = compressor
        self.out: list[Event] = []

    def emit(self, t: float, lease: Lease, notice: Notice, hosts=(), until=None, activity=None, preemption=None,
             refusal=None, reason: str = "", moved: bool = False) -> None:
        """A notice into the outbox (Event's fields, passed on by position: no ``**kw`` dict per notice)."""
        self.out.append(Event(t, lease.req.id, notice, tuple(hosts), until, activity, preemption, refusal, reason,
                              moved))

    def new_lease(self, req: LeaseRequest) -> Lease:
        lease = Lease(req=req, vecs=_vectors(self.ctx.site, req.nodes), seq=len(self.book.by_seq))
        lease.remaining = self.ctx.timing.run_time(req.duration)
        self.book.add(lease)
        return lease

    # ------------------------------------------------------------ phases
    def step(self, lease: Lease, t: float) -> None:
        """Start and end the lease's phases due by ``t``, in order. (The notices are
        built here rather than by :meth:`emit`: this runs for every instant of every
        lease.)"""
        book = self.book
        out = self.out
        due_by = t + EPS
        while lease.phases:
            p = lease.phases[0]
            if not p.started:
                if p.start > due_by:
                    break
                p.started = True
                ON_START[p.activity](book, lease, p)
                out.append(Event(t, lease.req.id, _STARTED, tuple(p.hosts), p.end, p.activity))
            if p.end <= due_by:
                lease.phases.pop(0)
                book.changed = True
                if p.lost:
                    self.emit(t, lease, Notice.PREEMPTED, p.hosts, preemption=PreemptMode.REQUEUE)
                    end_lost(book, self.ctx.timing, lease, p)
                    continue
                lease.history.append(p)
                out.append(Event(t, lease.req.id, _ENDED, tuple(p.hosts), None, p.activity))
                ON_END[p.activity](book, lease, p)
            else:
                break
        if lease.phases:
            book.due.push(lease)
        elif lease.state is S.ACTIVE and lease.remaining <= EPS:
            self.finish(lease, S.DONE)
            self.emit(t, lease, Notice.DONE)

    def finish(self, lease: Lease, state: S) -> None:
        self.book.finish(lease, state)
        self.compressor.forget(lease)

    # ------------------------------------------------------------ calls
    def stop_early(self, lease: Lease, now: float) -> None:
        """The running lease's VMs stopped at ``now``: its run ends there, then it shuts down."""
        run = lease.phases[0]
        if now < run.end - EPS:
            self.book.release(lease, now)
            lease.remaining = now - run.start
            run.end = now
            run.lost = False
            lease.phases = [run] + self.ctx.phases.shutdown(now, run.hosts)
            self.book.hold(lease, lease.phases[1:])
            self.book.freed = True
        self.step(lease, now)

    def end(self, lease: Lease, now: float, reason: str, state: S) -> None:
        """Cancel or fail the lease now."""
        self.book.release(lease, now)
        if lease.phases and lease.phases[0].started:
            p = lease.phases[0]
            p.end = max(now, p.start)
            lease.history.append(p)
        lease.phases = []
        lease.version += 1
        self.book.unlist(lease)
        lease.note = reason
        self.finish(lease, state)
        self.emit(now, lease, Notice.CANCELLED, reason=reason)
        self.book.freed = True

    def requeue(self, lease: Lease, now: float, reason: str, avoid: tuple[int, ...]) -> None:
        """The lease's started boot, run or resume failed: back to the queue, never again on ``avoid``."""
        p0 = lease.phases[0]
        lease.avoid = lease.avoid | frozenset(avoid)
        lease.note = reason
        self.book.release(lease, now)
        if p0.activity is A.RESUME:
            self.emit(now, lease, Notice.PREEMPTED, p0.hosts, preemption=PreemptMode.REQUEUE)
            lease.phases = []
            lease.version += 1
            lease.to(S.SUSPENDED_QUEUED)
            self.book.queue.add(lease)
        else:
            p0.end = max(now, p0.start)
            p0.lost = True
            lease.phases = [p0]
            lease.version += 1
            self.step(lease, now)  # the lost run ends now: the lease is queued again
        self.book.freed = True
        self.book.changed = True

    def move_end(self, lease: Lease, new_end: float, now: float) -> None:
        """Move the end of the AR's last run to ``new_end`` (``amend.end_change`` said MOVE)."""
        book = self.book
        run = [p for p in lease.phases if p.activity is A.RUN][-1]
        delta = new_end - run.end
        tail = lease.phases[lease.phases.index(run) + 1:]
        first = lease.phases[0]
        book.release(lease, max(now, first.start) if first.started else first.start)
        if delta > 0 and not self.ctx.mapper.map_fixed(lease.vecs, run.hosts, run.end,
                                                       new_end + sum(p.end - p.start for p in tail)):
            book.hold(lease, _held_from(lease.phases, now))
            raise ChangeRefused(f"no capacity to extend to the new end on hosts {list(run.hosts)}")
        run.end = new_end
        lease.remaining += delta
        for p in tail:
            length = p.end - p.start
            p.start, p.end = new_end, new_end + length
            new_end += length
        book.hold(lease, _held_from(lease.phases, now))
        book.replanned(lease)
        if delta < 0:
            book.freed_span(run.hosts[0], run.end, run.end - delta)
            for h in run.hosts:
                book.freed_span(h, run.end, run.end - delta)

    def restore(self, lease: Lease, phases: list[Phase]) -> None:
        """Put a persisted lease back at its plan (see ``LeaseScheduler.restore_lease``)."""
        book, req = self.book, lease.req
        book.changed = True
        if lease.state is S.PENDING and req.type is LeaseType.BE:
            lease.state = S.QUEUED
        enabled = self.ctx.slots.enabled
        unstarted_off = phases and not phases[0].started and any(not enabled[h] for p in phases for h in p.hosts)
        if lease.state in (S.QUEUED, S.SUSPENDED_QUEUED) or not phases or (
                unstarted_off and req.type in (LeaseType.BE, LeaseType.DEADLINE)):
            if phases and lease.state in (S.SCHEDULED, S.SUSPENDED_SCHEDULED):
                lease.state = S.SUSPENDED_QUEUED if lease.state is S.SUSPENDED_SCHEDULED else S.QUEUED
            if lease.state in (S.QUEUED, S.SUSPENDED_QUEUED):
                book.queue.add(lease)
            return  # else: nothing planned and not waiting, left as it is (should not happen)
        book.adopt(lease, phases)
        if (lease.state in (S.SCHEDULED, S.SUSPENDED_SCHEDULED) and req.type in (LeaseType.BE, LeaseType.DEADLINE)
                and not phases[0].started):
            book.reserved.add(lease)

    def host_back(self, host: int, now: float) -> None:
        self.book.freed_span(host, now, inf)
        self.book.changed = True

    # ------------------------------------------------------------ decisions
    def queue(self, lease: Lease, now: float) -> None:
        lease.to(S.QUEUED)
        self.book.queue.add(lease)
        self.emit(now, lease, Notice.QUEUED)
        self.book.changed = True

    def admit(self, lease: Lease, d: Accept | Refuse | Preempt, now: float) -> None:
        replan: list[Lease] = []
        if isinstance(d, Preempt):
            self.preempt(d.plan, now)
            replan = d.plan.replan  # their remainder is planned once the lease holds its slot
            d = self.admission.after_preemption(lease, d)
        if isinstance(d, Refuse):
            self.reject(lease, now, d.refusal)
        else:
            if d.ar_start is not None:
                lease.ar_start = d.ar_start
                self.book.ar_starts.add(d.ar_start)
            self.book.adopt(lease, d.phases)
            lease.to(S.SCHEDULED)
            self.emit(now, lease, Notice.ACCEPTED, d.phases[0].hosts, d.phases[0].start)
        for v in replan:
            self._replan_remainder(v, now)
        if isinstance(d, Accept):
            self.step(lease, now)
            if lease.type is LeaseType.DEADLINE and lease.state is S.SCHEDULED:
                self.book.reserved.add(lease)

    def reject(self, lease: Lease, t: float, why: Refusal) -> None:
        lease.refusal = why
        self.finish(lease, S.REJECTED)
        self.emit(t, lease, Notice.REJECTED, refusal=why)

    def preempt(self, plan: PreemptionPlan, now: float) -> None:
        """Make each victim give up its capacity from ``plan.at`` on."""
        at, book = plan.at, self.book
        for victim in plan.victims:
            self.ctx.stats.preemptions += 1
            p0 = victim.phases[0]
            if not p0.started:
                book.release(victim, now)
                victim.phases = []
                victim.version += 1
                book.unlist(victim)
                victim.to(S.SUSPENDED_QUEUED if victim.state is S.SUSPENDED_SCHEDULED else S.QUEUED)
                book.queue.add(victim)
                self.emit(now, victim, Notice.PREEMPTED, preemption=PreemptMode.UNSCHEDULE)
                continue
            susp = planned_suspension(victim, at)
            if susp is not None:  # its resumed part is taken back; it is planned again after the suspension
                book.release(victim, susp.end)
                victim.phases = victim.phases[:2]
                self.emit(now, victim, Notice.PREEMPTED, preemption=PreemptMode.UNSCHEDULE)
                book.replanned(victim)
                continue
            begin = suspend_begin(self.ctx, victim, at, now)
            book.release(victim, at)
            if begin is not None and victim.preemptible:
                p0.end = begin
                victim.phases = [p0, Phase(A.SUSPEND, begin, at, p0.hosts, started=False)]
                self.emit(now, victim, Notice.PREEMPTED, p0.hosts, at, preemption=PreemptMode.SUSPEND)
            else:
                p0.end = at
                p0.lost = True
                victim.phases = [p0]
                self.emit(now, victim, Notice.PREEMPTED, p0.hosts, at, preemption=PreemptMode.CANCEL_AND_REQUEUE)
            book.replanned(victim)

    def _replan_remainder(self, victim: Lease, now: float) -> None:
        r = self.preemptor.remainder(victim, now)
        if r is None:
            return
        if r.append:
            self.book.hold(victim, r.phases)
            victim.phases.extend(r.phases)
            self.book.replanned(victim)
            return
        self.book.adopt(victim, r.phases)
        self.book.queue.remove(victim)
        victim.to(S.SCHEDULED if victim.state is S.QUEUED else S.SUSPENDED_SCHEDULED)
        self.book.reserved.add(victim)

    def place(self, lease: Lease, phases: list[Phase], now: float) -> None:
        """The queue round gave the lease these phases."""
        self.book.queue.remove(lease)
        self.book.adopt(lease, phases)
        lease.to(S.SUSPENDED_SCHEDULED if lease.state is S.SUSPENDED_QUEUED else S.SCHEDULED)
        self.emit(now, lease, Notice.SCHEDULED, phases[0].hosts, phases[0].start)
        if phases[0].start > now + EPS:
            self.book.reserved.add(lease)
        else:
            self.step(lease, now)

    def fail_in_queue(self, d: Fail, now: float) -> None:
        self.book.queue.remove(d.lease)
        d.lease.refusal = d.refusal
        self.finish(d.lease, S.FAILED)
        self.emit(now, d.lease, Notice.CANCELLED, refusal=d.refusal)

    def rebind(self, lease: Lease, phases: list[Phase], now: float) -> None:
        """The queue round moved the lease's reservation to other hosts, same instants (``rebind.py``)."""
        self.book.release(lease, now, track=False)
        self.book.adopt(lease, phases)
        self.emit(now, lease, Notice.SCHEDULED, phases[0].hosts, phases[0].start, moved=True,
                  reason="same start, other hosts")

    def move(self, lease: Lease, phases: list[Phase], now: float) -> None:
        """Compression moved the lease's reservation earlier."""
        self.book.adopt(lease, phases)
        self.emit(now, lease, Notice.SCHEDULED, phases[0].hosts, phases[0].start, moved=True)
        if phases[0].start <= now + EPS:
            self.step(lease, now)
