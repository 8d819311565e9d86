"""The lease scheduler, the core's front door: given its state and an event, it returns what happened.

Pure: no clock, no I/O, no threads. The shell (simulator or daemon) tells it
the time with every call, asks :meth:`next_event_time` when it must call
:meth:`advance` next, and reads the returned :class:`Event` list.

This is the only way into the core. Each call is checked here; then the
decision modules, which only read, *return* values and ``applier.py``, the one
place where a lease's plan and state change, carries them out:

- ``admission.py``   a new AR / immediate / deadline lease -> Accept | Refuse | Preempt
- ``preemption.py``  who makes way for it -> PreemptionPlan
- ``backfill.py``    the queue round -> Place | Fail, one lease at a time (and Move: ``rebind.py``)
- ``compression.py`` capacity freed early -> Move, one reservation at a time
- ``lifecycle.py``   the state machine of phases starting and ending, by activity

Best-effort leases wait in a queue ordered by submit time; a scheduling round
gives each queued lease a start now or a future reservation. When capacity
frees early (a lease ends before its requested time, a lease is cancelled) the
future reservations are *compressed*: each, in queue order, moves to the
earliest start it can get, never later than it had; ARs never move.
"""
from __future__ import annotations

from galerna.config.schema import Config, PreparationMode
from galerna.model.lease import LeaseRequest, LeaseType
from galerna.model.site import Site
from galerna.model.state import LeaseState as S
from galerna.schedule.admission import Admission
from galerna.schedule.amend import EndChange, end_change
from galerna.schedule.applier import Applier
from galerna.schedule.backfill import queue_round
from galerna.schedule.book import Book
from galerna.schedule.compression import Compressor
from galerna.schedule.context import CoreContext, Stats
from galerna.schedule.decisions import Move, Place
from galerna.schedule.images import ImageRepository
from galerna.schedule.lease import Activity, Lease, Phase
from galerna.schedule.mapper import Mapper
from galerna.schedule.phases import PhaseBuilder
from galerna.schedule.plan import Event
from galerna.schedule.policies.host_selection import POLICIES
from galerna.schedule.preemption import Preemptor
from galerna.schedule.search import Search
from galerna.schedule.shapes import Shapes
from galerna.schedule.slottable import SlotTable
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
        self.apply = Applier(self.ctx, self.admission, self.preemptor, self.compressor)
        # read-only views for the shells
        self.leases: dict[str, Lease] = self.book.leases
        self.queue = self.book.queue
        self.reserved = self.book.reserved
        self.live = self.book.live

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
        lease = self.apply.new_lease(req)
        why = self.admission.refusal(lease)
        if why is not None:
            self.apply.reject(lease, now, why)
        elif req.type is LeaseType.AR:
            self.apply.admit(lease, self.admission.exact(lease, now), now)
        elif req.type is LeaseType.IM:
            self.apply.admit(lease, self.admission.immediate(lease, now), now)
        elif req.type is LeaseType.DEADLINE:
            self.apply.admit(lease, self.admission.deadline(lease, now), now)
        else:
            self.apply.queue(lease, now)
        return self._settled(now)

    def vms_finished(self, lease_id: str, now: float) -> list[Event]:
        """The lease's VMs stopped running at ``now`` (before their requested end)."""
        self._process(now)
        lease = self.leases[lease_id]
        if not lease.phases or lease.phases[0].activity is not A.RUN or not lease.phases[0].started:
            raise ValueError(f"lease {lease_id} is not running")
        self.apply.stop_early(lease, now)
        return self._settled(now)

    def cancel(self, lease_id: str, now: float, reason: str = "cancelled") -> list[Event]:
        """The lease ends now, cancelled (its owner, or a shell, gave up on it)."""
        return self._end(lease_id, now, reason, S.CANCELLED)

    def fail(self, lease_id: str, now: float, reason: str) -> list[Event]:
        """The lease ends now, failed (its hypervisor could not run it); notified as CANCELLED with ``reason``."""
        return self._end(lease_id, now, reason, S.FAILED)

    def _end(self, lease_id: str, now: float, reason: str, state: S) -> list[Event]:
        self._process(now)
        lease = self.leases[lease_id]
        if lease.state.final:
            raise ValueError(f"lease {lease_id} is already {lease.state.value}")
        self.apply.end(lease, now, reason, state)
        return self._settled(now)

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
        if lease.phases[0].activity not in (A.BOOT, A.RUN, A.RESUME):
            return None
        self.apply.requeue(lease, now, reason, avoid)
        return self._settled(now)

    def change_end(self, lease_id: str, new_end: float, now: float) -> list[Event]:
        """Move the planned end of an AR's run to ``new_end``, as OpenStack Blazar allows.

        Shortening gives capacity back (and compresses waiting reservations);
        extending must fit on the same hosts without preempting anyone. Ending at
        or before ``now`` ends a running lease now and cancels one that has not
        started. Raises ``plan.ChangeRefused`` saying why it cannot.
        """
        self._process(now)
        self._settle(now)  # a refusal below leaves these notices in the outbox for the next call
        lease = self.leases[lease_id]
        change = end_change(lease, new_end, now)
        if change is EndChange.FINISH:
            return self.vms_finished(lease_id, now)
        if change is EndChange.CANCEL:
            return self.cancel(lease_id, now, "ended by its owner before it started")
        if change is EndChange.MOVE:
            self.apply.move_end(lease, new_end, now)
        return self._settled(now)

    def restore_lease(self, req: LeaseRequest, state: S, phases: list[Phase], *, note: str = "",
                      remaining: float | None = None, hosts: tuple[int, ...] | None = None, suspensions: int = 0,
                      booted: bool = False, avoid: frozenset[int] = frozenset(),
                      history: list[Phase] | None = None) -> Lease:
        """Put back a lease the daemon persisted, at its persisted plan (call in submit order).

        Queued leases, and best-effort or deadline reservations not yet begun on a
        host now disabled, go back to the queue; every other lease holds its
        phases as they were. Nothing is re-planned here: the next :meth:`advance`
        runs a queue round.
        """
        if req.id in self.leases:
            raise ValueError(f"lease {req.id} already submitted")
        lease = self.apply.new_lease(req)
        lease.state, lease.note = state, note
        if remaining is not None:
            lease.remaining = remaining
        lease.hosts, lease.suspensions, lease.booted, lease.avoid = hosts, suspensions, booted, avoid
        lease.history = list(history or [])
        self.apply.restore(lease, phases)
        return lease

    def advance(self, now: float) -> list[Event]:
        """Carry out everything planned up to ``now``."""
        self._process(now)
        return self._settled(now)

    def set_host_enabled(self, host: int, on: bool, now: float) -> bool:
        """Let new placements use ``host`` or not (an operator disabled it, or its
        hypervisor stopped answering). What is planned or running there keeps its
        place. A host coming back is capacity given back: at the next
        :meth:`advance` waiting leases may take it and reservations may move
        earlier onto it. True when it just came back."""
        was = self.slots.enabled[host]
        self.slots.enabled[host] = on
        if on and not was:
            self.apply.host_back(host, now)
            return True
        return False

    def next_event_time(self) -> float:
        return self.book.due.peek()

    def waiting(self) -> int:
        """Leases submitted and not yet running: queued or holding a future reservation."""
        return self.book.waiting()

    # ======================================================== event engine
    def _process(self, now: float) -> None:
        self.book.due.run_due(now, self.apply.step)
        ctx = self.ctx
        if now > ctx.now:
            ctx.now = now

    def _settled(self, now: float) -> list[Event]:
        """Run the passes the call made due and hand back the notices."""
        self._settle(now)
        out, self.apply.out = self.apply.out, []
        return out

    def _settle(self, now: float) -> None:
        """Compression when capacity was freed early, then a queue round when anything changed."""
        book, apply = self.book, self.apply
        if book.freed:
            book.freed = False
            for move in self.compressor.compress(now):
                apply.move(move.lease, move.phases, now)
            book.changed = True
        if book.changed:
            book.changed = False
            for d in (queue_round(self.ctx, self.search, now) if book.queue else ()):  # (no round without a queue)
                if isinstance(d, Place):
                    apply.place(d.lease, d.phases, now)
                elif isinstance(d, Move):
                    apply.rebind(d.lease, d.phases, now)
                else:
                    apply.fail_in_queue(d, now)
            self.slots.prune(now)
            if self.images is not None:
                self.images.link.prune(now)
