"""The lease scheduler, the core's front door: given its state and an event, it returns what happened.

Pure: no clock, no I/O, no threads. The shell (simulator or daemon) tells it
the time with every call, asks :meth:`next_event_time` when it must call
:meth:`advance` next, and reads the returned :class:`Event` list.

This is the only way into the core, and the one place where a lease's plan and
state change. The decision modules only read and *return* values, which the
appliers here carry out:

- ``admission.py``  a new AR / immediate / deadline lease -> Accept | Refuse | Preempt
- ``preemption.py`` who makes way for it -> PreemptionPlan (applied by :meth:`_preempt`)
- ``backfill.py``   the queue round -> Place | Fail, one lease at a time
- ``compression.py`` capacity freed early -> Move, one reservation at a time
- ``lifecycle.py``  the state machine of phases starting and ending, by activity

Best-effort leases wait in a queue ordered by submit time; a scheduling round
gives each queued lease a start now or a future reservation. When capacity
frees early the future reservations are compressed; ARs never move.
"""
from __future__ import annotations

from math import inf

from galerna.config.schema import Config, PreparationMode
from galerna.model.lease import LeaseRequest, LeaseType
from galerna.model.site import Site
from galerna.model.state import LeaseState as S
from galerna.schedule.admission import Admission
from galerna.schedule.amend import EndChange, end_change
from galerna.schedule.backfill import queue_round
from galerna.schedule.book import Book
from galerna.schedule.compression import Compressor
from galerna.schedule.context import CoreContext, Stats
from galerna.schedule.decisions import Accept, Fail, Place, Preempt, Refuse
from galerna.schedule.images import ImageRepository
from galerna.schedule.lease import Activity, Lease, Phase
from galerna.schedule.lifecycle import ON_END, ON_START, end_lost
from galerna.schedule.mapper import Mapper
from galerna.schedule.phases import PhaseBuilder
from galerna.schedule.plan import ChangeRefused, Event, Notice, PreemptMode, Refusal
from galerna.schedule.policies.host_selection import POLICIES
from galerna.schedule.preemption import PreemptionPlan, Preemptor
from galerna.schedule.search import Search
from galerna.schedule.shapes import Shapes
from galerna.schedule.slottable import SlotTable
from galerna.schedule.suspension import suspend_begin
from galerna.schedule.timeline import EPS
from galerna.schedule.timing import Timing

A = Activity


class LeaseScheduler:
    def __init__(self, site: Site, config: Config | None = None, now: float = 0.0):
        self.config = config or Config()
        self.cfg = self.config.scheduling
        self.site = site
        self.slots = SlotTable(site, now)
        self.mapper = Mapper(self.slots, POLICIES[self.cfg.host_selection])
        self.timing = Timing(self.cfg)
        it = self.config.imagetransfer
        self.images = ImageRepository(it, len(site), now) if it.preparation is PreparationMode.IMAGETRANSFER else None
        self.book = Book(self.slots, self.images)
        self.ctx = CoreContext(site, self.config, self.cfg, it, self.slots, self.mapper, self.timing,
                               PhaseBuilder(self.cfg, self.timing), Shapes(self.slots.caps), self.book, self.images, now)
        self.search = Search(self.ctx)
        self.preemptor = Preemptor(self.ctx, self.search)
        self.admission = Admission(self.ctx, self.search, self.preemptor)
        self.compressor = Compressor(self.ctx, self.search)
        self.leases = self.book.leases
        self.queue = self.book.queue
        self.reserved = self.book.reserved
        self.live = self.book.live
        self._out: list[Event] = []

    @property
    def now(self) -> float:
        return self.ctx.now

    @property
    def stats(self) -> Stats:
        """Counters of what the passes did (rounds, re-plans, moves, filter hits, preemptions)."""
        return self.ctx.stats

    # ================================================================ API
    def submit(self, req: LeaseRequest, now: float) -> list[Event]:
        """A new lease request arrives at ``now``."""
        self._process(now)
        if req.id in self.leases:
            raise ValueError(f"lease {req.id} already submitted")
        lease = self._new_lease(req, len(self.book.by_seq))
        lease.remaining = self.timing.run_time(req.duration)
        self.book.add(lease)
        why = self.admission.refusal(lease)
        if why is not None:
            self._reject(lease, now, why)
        elif req.type is LeaseType.AR:
            self._admit(lease, self.admission.exact(lease, now), now)
        elif req.type is LeaseType.IM:
            self._admit(lease, self.admission.immediate(lease, now), now)
        elif req.type is LeaseType.DEADLINE:
            self._admit(lease, self.admission.deadline(lease, now), now)
            if lease.state is S.SCHEDULED:
                self.reserved.add(lease)
        else:
            lease.to(S.QUEUED)
            self.queue.add(lease)
            self._emit(now, lease, Notice.QUEUED)
            self.book.changed = True
        self._settle(now)
        return self._drain()

    def vms_finished(self, lease_id: str, now: float) -> list[Event]:
        """The lease's VMs stopped running at ``now`` (before their requested end)."""
        self._process(now)
        lease = self.leases[lease_id]
        if not lease.phases or lease.phases[0].activity is not A.RUN or not lease.phases[0].started:
            raise ValueError(f"lease {lease_id} is not running")
        run = lease.phases[0]
        if now < run.end - EPS:
            self.book.release(lease, now)
            lease.remaining = now - run.start
            run.end = now
            run.lost = False
            lease.phases = [run] + self.ctx.phases.shutdown(now, run.hosts)
            self.book.hold(lease, lease.phases[1:])
            self.book.freed = True
        self._step(lease, now)
        self._settle(now)
        return self._drain()

    def cancel(self, lease_id: str, now: float, reason: str = "cancelled") -> list[Event]:
        """The lease ends now, cancelled (its owner, or a shell, gave up on it)."""
        return self._end(lease_id, now, reason, S.CANCELLED)

    def fail(self, lease_id: str, now: float, reason: str) -> list[Event]:
        """The lease ends now, failed (its hypervisor could not run it); notified like a cancel."""
        return self._end(lease_id, now, reason, S.FAILED)

    def _end(self, lease_id: str, now: float, reason: str, state: S) -> list[Event]:
        self._process(now)
        lease = self.leases[lease_id]
        if lease.state.final:
            raise ValueError(f"lease {lease_id} is already {lease.state.value}")
        self.book.release(lease, now)
        if lease.phases and lease.phases[0].started:
            p = lease.phases[0]
            p.end = max(now, p.start)
            lease.history.append(p)
        lease.phases = []
        lease.version += 1
        self.book.unlist(lease)
        lease.note = reason
        self._finish(lease, state)
        self._emit(now, lease, Notice.CANCELLED, reason=reason)
        self.book.freed = True
        self._settle(now)
        return self._drain()

    def requeue(self, lease_id: str, now: float, reason: str = "", avoid: tuple[int, ...] = ()) -> list[Event] | None:
        """The hypervisor could not start or resume the lease's VMs: back to the queue.

        A booting or running lease loses that run, as with cancel-and-requeue
        preemption. A resuming lease returns to the queue suspended, keeping its
        progress and its saved state. Hosts in ``avoid`` are never given to this
        lease again. None when the lease is in no phase a hypervisor can fail.
        """
        self._process(now)
        lease = self.leases[lease_id]
        if lease.state.final or not lease.phases or not lease.phases[0].started:
            return None
        p0 = lease.phases[0]
        if p0.activity not in (A.BOOT, A.RUN, A.RESUME):
            return None
        lease.avoid = lease.avoid | frozenset(avoid)
        lease.note = reason
        self.book.release(lease, now)
        if p0.activity is A.RESUME:
            self._emit(now, lease, Notice.PREEMPTED, p0.hosts, preemption=PreemptMode.REQUEUE)
            lease.phases = []
            lease.version += 1
            lease.to(S.SUSPENDED_QUEUED)
            self.queue.add(lease)
        else:
            p0.end = max(now, p0.start)
            p0.lost = True
            lease.phases = [p0]
            lease.version += 1
            self._step(lease, now)  # the lost run ends now: the lease is queued again
        self.book.freed = True
        self.book.changed = True
        self._settle(now)
        return self._drain()

    def change_end(self, lease_id: str, new_end: float, now: float) -> list[Event]:
        """Move the planned end of an AR's run to ``new_end``, as OpenStack Blazar allows.

        Shortening gives capacity back (and compresses waiting reservations);
        extending must fit on the same hosts without preempting anyone. Ending at
        or before ``now`` ends a running lease now and cancels one that has not
        started. Raises :class:`ChangeRefused` saying why it cannot.
        """
        self._process(now)
        self._settle(now)
        lease = self.leases[lease_id]
        change = end_change(lease, new_end, now)
        if change is EndChange.FINISH:
            return self._drain() + self.vms_finished(lease_id, now)
        if change is EndChange.CANCEL:
            return self._drain() + self.cancel(lease_id, now, "ended by its owner before it started")
        if change is EndChange.UNCHANGED:
            return self._drain()
        book = self.book
        run = [p for p in lease.phases if p.activity is A.RUN][-1]
        delta = new_end - run.end
        tail = lease.phases[lease.phases.index(run) + 1:]
        first = lease.phases[0]
        book.release(lease, max(now, first.start) if first.started else first.start)
        if delta > 0 and not self.mapper.map_fixed(lease.vecs, run.hosts, run.end,
                                                   new_end + sum(p.end - p.start for p in tail)):
            book.hold(lease, self._held_from(lease.phases, now))
            raise ChangeRefused(f"no capacity to extend to the new end on hosts {list(run.hosts)}")
        run.end = new_end
        lease.remaining += delta
        for p in tail:
            length = p.end - p.start
            p.start, p.end = new_end, new_end + length
            new_end += length
        book.hold(lease, self._held_from(lease.phases, now))
        book.replanned(lease)
        if delta < 0:
            book.freed_span(run.hosts[0], run.end, run.end - delta)
            for h in run.hosts:
                book.freed_span(h, run.end, run.end - delta)
        return self._drain() + self.advance(now)

    @staticmethod
    def _held_from(phases: list[Phase], now: float) -> list[Phase]:
        """The phases as the slot table holds them: a started one from ``now`` on."""
        return [p if not p.started else Phase(p.activity, max(now, p.start), p.end, p.hosts, p.holds) for p in phases]

    def restore_lease(self, req: LeaseRequest, state: S, phases: list[Phase], *, note: str = "",
                      remaining: float | None = None, hosts: tuple[int, ...] | None = None, suspensions: int = 0,
                      booted: bool = False, avoid: frozenset[int] = frozenset(),
                      history: list[Phase] | None = None) -> Lease:
        """Put back a lease the daemon persisted, at its persisted plan (leases in submit order).

        Queued leases, and best-effort or deadline reservations not yet begun on a
        host now disabled, go back to the queue; every other lease holds its
        phases as they were. Nothing is re-planned here: the next :meth:`advance`
        runs a queue round.
        """
        lease = self._new_lease(req, len(self.book.by_seq))
        lease.state, lease.note = state, note
        lease.remaining = self.timing.run_time(req.duration) if remaining is None else remaining
        lease.hosts, lease.suspensions, lease.booted, lease.avoid = hosts, suspensions, booted, avoid
        lease.history = list(history or [])
        self.book.add(lease)
        self.book.changed = True
        if lease.state is S.PENDING and req.type is LeaseType.BE:
            lease.state = S.QUEUED
        enabled = self.slots.enabled
        unstarted_off = phases and not phases[0].started and any(not enabled[h] for p in phases for h in p.hosts)
        if lease.state in (S.QUEUED, S.SUSPENDED_QUEUED) or not phases or (
                unstarted_off and req.type in (LeaseType.BE, LeaseType.DEADLINE)):
            if phases and lease.state in (S.SCHEDULED, S.SUSPENDED_SCHEDULED):
                lease.state = S.SUSPENDED_QUEUED if lease.state is S.SUSPENDED_SCHEDULED else S.QUEUED
            if lease.state in (S.QUEUED, S.SUSPENDED_QUEUED):
                self.queue.add(lease)
            return lease  # else: nothing planned and not waiting, left as it is (should not happen)
        self.book.adopt(lease, phases)
        if (lease.state in (S.SCHEDULED, S.SUSPENDED_SCHEDULED) and req.type in (LeaseType.BE, LeaseType.DEADLINE)
                and not phases[0].started):
            self.reserved.add(lease)
        return lease

    def advance(self, now: float) -> list[Event]:
        """Carry out everything planned up to ``now``."""
        self._process(now)
        self._settle(now)
        return self._drain()

    def set_host_enabled(self, host: int, on: bool, now: float) -> bool:
        """Let new placements use ``host`` or not (an operator disabled it, or its
        hypervisor stopped answering). What is planned or running there keeps its
        place. A host coming back is capacity given back: at the next
        :meth:`advance` waiting leases may take it and reservations may move
        earlier onto it. True when it just came back."""
        was = self.slots.enabled[host]
        self.slots.enabled[host] = on
        if on and not was:
            self.book.freed_span(host, now, inf)
            self.book.changed = True
            return True
        return False

    def next_event_time(self) -> float:
        return self.book.due.peek()

    def waiting(self) -> int:
        """Leases submitted and not yet running: queued or holding a future reservation."""
        return self.book.waiting()

    # ======================================================== event engine
    def _new_lease(self, req: LeaseRequest, seq: int) -> Lease:
        return Lease(req=req, vecs=tuple(self.site.vector(n) for n in req.nodes), seq=seq)

    def _process(self, now: float) -> None:
        for lease, t in self.book.due.pop_due(now):
            self._step(lease, t)
        self.ctx.now = max(self.ctx.now, now)

    def _settle(self, now: float) -> None:
        book = self.book
        if book.freed:
            book.freed = False
            for move in self.compressor.compress(now):
                self._move(move.lease, move.phases, now)
            book.changed = True
        if book.changed:
            book.changed = False
            for d in queue_round(self.ctx, self.search, now):
                if isinstance(d, Place):
                    self._place(d.lease, d.phases, now)
                else:
                    self._fail_in_queue(d, now)
            self.slots.prune(now)
            if self.images is not None:
                self.images.link.prune(now)

    def _drain(self) -> list[Event]:
        out, self._out = self._out, []
        return out

    def _emit(self, t: float, lease: Lease, notice: Notice, hosts=(), until=None, **kw) -> None:
        self._out.append(Event(t, lease.id, notice, tuple(hosts), until, **kw))

    def _step(self, lease: Lease, t: float) -> None:
        """Start and end the lease's phases due by ``t``, in order."""
        book = self.book
        while lease.phases:
            p = lease.phases[0]
            if not p.started:
                if p.start > t + EPS:
                    break
                p.started = True
                ON_START[p.activity](book, lease, p)
                self._emit(t, lease, Notice.PHASE_STARTED, p.hosts, p.end, activity=p.activity)
            if p.end <= t + EPS:
                lease.phases.pop(0)
                book.changed = True
                if p.lost:
                    self._emit(t, lease, Notice.PREEMPTED, p.hosts, preemption=PreemptMode.REQUEUE)
                    end_lost(book, self.timing, lease, p)
                    continue
                lease.history.append(p)
                self._emit(t, lease, Notice.PHASE_ENDED, p.hosts, activity=p.activity)
                ON_END[p.activity](book, lease, p)
            else:
                break
        if lease.phases:
            book.due.push(lease)
        elif lease.state is S.ACTIVE and lease.remaining <= EPS:
            self._finish(lease, S.DONE)
            self._emit(t, lease, Notice.DONE)

    def _finish(self, lease: Lease, state: S) -> None:
        self.book.finish(lease, state)
        self.compressor.forget(lease.id)

    # ============================================================ appliers
    def _admit(self, lease: Lease, d: Accept | Refuse | Preempt, now: float) -> None:
        replan: list[Lease] = []
        if isinstance(d, Preempt):
            self._preempt(d.plan, now)
            replan = d.plan.replan  # their remainder is planned once the lease holds its slot
            d = self.admission.after_preemption(lease, d)
        if isinstance(d, Refuse):
            self._reject(lease, now, d.refusal)
        else:
            if d.ar_start is not None:
                lease.ar_start = d.ar_start
                self.book.ar_starts.add(d.ar_start)
            self.book.adopt(lease, d.phases)
            lease.to(S.SCHEDULED)
            self._emit(now, lease, Notice.ACCEPTED, d.phases[0].hosts, d.phases[0].start)
        for v in replan:
            self._replan_remainder(v, now)
        if isinstance(d, Accept):
            self._step(lease, now)

    def _reject(self, lease: Lease, t: float, why: Refusal) -> None:
        lease.refusal = why
        self._finish(lease, S.REJECTED)
        self._emit(t, lease, Notice.REJECTED, refusal=why)

    def _preempt(self, plan: PreemptionPlan, now: float) -> None:
        """Make each victim give up its capacity from ``plan.at`` on."""
        at = plan.at
        book = self.book
        for victim in plan.victims:
            self.ctx.stats.preemptions += 1
            p0 = victim.phases[0]
            if not p0.started:
                book.release(victim, now)
                victim.phases = []
                victim.version += 1
                book.unlist(victim)
                victim.to(S.SUSPENDED_QUEUED if victim.state is S.SUSPENDED_SCHEDULED else S.QUEUED)
                self.queue.add(victim)
                self._emit(now, victim, Notice.PREEMPTED, preemption=PreemptMode.UNSCHEDULE)
                continue
            begin = suspend_begin(self.ctx, victim, at, now)
            book.release(victim, at)
            if begin is not None and victim.preemptible:
                p0.end = begin
                victim.phases = [p0, Phase(A.SUSPEND, begin, at, p0.hosts, started=False)]
                self._emit(now, victim, Notice.PREEMPTED, p0.hosts, at, preemption=PreemptMode.SUSPEND)
            else:
                p0.end = at
                p0.lost = True
                victim.phases = [p0]
                self._emit(now, victim, Notice.PREEMPTED, p0.hosts, at, preemption=PreemptMode.CANCEL_AND_REQUEUE)
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
        self.queue.remove(victim)
        victim.to(S.SCHEDULED if victim.state is S.QUEUED else S.SUSPENDED_SCHEDULED)
        self.reserved.add(victim)

    def _place(self, lease: Lease, phases: list[Phase], now: float) -> None:
        self.queue.remove(lease)
        self.book.adopt(lease, phases)
        lease.to(S.SUSPENDED_SCHEDULED if lease.state is S.SUSPENDED_QUEUED else S.SCHEDULED)
        self._emit(now, lease, Notice.SCHEDULED, phases[0].hosts, phases[0].start)
        if phases[0].start > now + EPS:
            self.reserved.add(lease)
        else:
            self._step(lease, now)

    def _fail_in_queue(self, d: Fail, now: float) -> None:
        self.queue.remove(d.lease)
        d.lease.refusal = d.refusal
        self._finish(d.lease, S.FAILED)
        self._emit(now, d.lease, Notice.CANCELLED, refusal=d.refusal)

    def _move(self, lease: Lease, phases: list[Phase], now: float) -> None:
        self.book.adopt(lease, phases)
        self._emit(now, lease, Notice.SCHEDULED, phases[0].hosts, phases[0].start, moved=True)
        if phases[0].start <= now + EPS:
            self._step(lease, now)
