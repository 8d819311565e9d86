"""The lease scheduler: given its state and an event, it returns what happened.

Pure: no clock, no I/O, no threads. The shell (simulator or daemon) tells it
the time with every call, asks :meth:`next_event_time` when it must call
:meth:`advance` next, and reads the returned :class:`Event` list.

Best-effort leases wait in a queue ordered by submit time. A scheduling round
gives each queued lease either a start now or — as the backfilling mode
allows — a reservation in the future. When capacity frees early (a lease ends
before its requested time, a lease is cancelled) the future reservations are
*compressed*: each, in queue order, moves to the earliest start it can get,
never later than it had; advance reservations never move.
"""
from __future__ import annotations

import heapq
from math import inf

from sortedcontainers import SortedKeyList, SortedList

from galerna.config.schema import (
    Admission,
    PreparationMode,
    Backfilling,
    Config,
    MigrationMode,
    Preemption,
    SuspensionMode,
)
from galerna.model.lease import LeaseRequest, LeaseType
from galerna.model.site import Site
from galerna.model.state import LeaseState as S
from galerna.schedule.images import ImageRepository
from galerna.schedule.lease import Activity, Lease, Phase
from galerna.schedule.mapper import Mapper, min_vec, total_demand
from galerna.schedule.plan import Event, Notice
from galerna.schedule.policies.host_selection import POLICIES
from galerna.schedule.freed import FreedSpans
from galerna.schedule.slottable import SlotTable, demand_per_host
from galerna.schedule.timeline import EPS
from galerna.schedule.timing import Timing

A = Activity


def _order(lease: Lease) -> tuple[float, int]:
    return (lease.req.submit, lease.seq)


def _stretches(phases: list[Phase], from_t: float) -> list[tuple[float, float, tuple[int, ...]]]:
    """The capacity the phases hold from ``from_t`` on, back-to-back phases on the same
    hosts joined (boot, run and shutdown are one interval to the slot table: half
    the breakpoints, a third of the edits)."""
    out: list[tuple[float, float, tuple[int, ...]]] = []
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


def _begins(phases: list[Phase]) -> float:
    """Where a plan starts to hold capacity: the lease's start, a transfer before it
    being preparation."""
    return next((p.start for p in phases if p.holds), phases[0].start)


class LeaseScheduler:
    def __init__(self, site: Site, config: Config | None = None, now: float = 0.0):
        self.config = config or Config()
        self.cfg = self.config.scheduling
        self.site = site
        self.slots = SlotTable(site, now)
        self.mapper = Mapper(self.slots, POLICIES[self.cfg.host_selection])
        self.timing = Timing(self.cfg)
        self.now = now
        self.leases: dict[str, Lease] = {}
        self.queue = SortedKeyList(key=_order)  # waiting without a reservation
        self.reserved = SortedKeyList(key=_order)  # BE/deadline with a future reservation
        self._ar_starts = SortedList()  # where accepted ARs begin to hold capacity
        self._by_seq: dict[int, Lease] = {}
        self.live: set[Lease] = set()  # accepted, not yet in a final state
        self._replan_after_accept: list[Lease] = []
        self._fit_cache: dict[tuple, str | None] = {}
        self._small: dict[tuple, tuple[float, ...]] = {}  # VM vectors -> their smallest VM
        self._one_vm: dict[tuple[float, ...], frozenset[int]] = {}  # see _one_vm_hosts
        self._copies_start: dict[str, tuple] = {}  # see _copies_could_serve
        # Host-intervals whose capacity was given back since the last compression.
        self._spans: list[tuple[int, float, float]] = []
        it = self.cfg_images = self.config.imagetransfer
        self.images = ImageRepository(it, len(site), now) if it.preparation is PreparationMode.IMAGETRANSFER else None
        self._heap: list[tuple[float, int, int, int]] = []
        self._tick = 0
        self._out: list[Event] = []
        self._freed = False  # capacity was released early: compress
        self._changed = False  # something ended or arrived: run a queue round
        total = self.slots.total_capacity
        self._site_total = total
        self._host_caps = self.slots.caps

    # ================================================================ API
    def submit(self, req: LeaseRequest, now: float) -> list[Event]:
        """A new lease request arrives at ``now``."""
        self._process(now)
        if req.id in self.leases:
            raise ValueError(f"lease {req.id} already submitted")
        lease = Lease(req=req, vecs=tuple(self.site.vector(n) for n in req.nodes), seq=len(self._by_seq))
        lease.remaining = self.timing.run_time(req.duration)
        self.leases[req.id] = lease
        self._by_seq[lease.seq] = lease
        self.live.add(lease)
        why = self._never_fits(lease)
        if why is None and req.type is LeaseType.AR and self.cfg.admission is Admission.NO_ARS:
            why = "advance reservations are not admitted (admission policy no-ars)"
        if why is not None:
            self._reject(lease, now, why)
        elif req.type is LeaseType.AR:
            self._schedule_exact(lease, now)
        elif req.type is LeaseType.IM:
            self._schedule_immediate(lease, now)
        elif req.type is LeaseType.DEADLINE:
            self._schedule_deadline(lease, now)
        else:
            lease.to(S.QUEUED)
            self.queue.add(lease)
            self._emit(now, lease, Notice.QUEUED)
            self._changed = True
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
            self._release(lease, now)
            lease.remaining = now - run.start
            run.end = now
            run.lost = False
            lease.phases = [run] + self._shutdown_phase(now, run.hosts)
            self._hold(lease, lease.phases[1:])
            self._freed = True
        self._step(lease, now)
        self._settle(now)
        return self._drain()

    def cancel(self, lease_id: str, now: float, reason: str = "cancelled") -> list[Event]:
        self._process(now)
        lease = self.leases[lease_id]
        if lease.state.final:
            raise ValueError(f"lease {lease_id} is already {lease.state.value}")
        self._release(lease, now)
        if lease.phases and lease.phases[0].started:
            p = lease.phases[0]
            p.end = max(now, p.start)
            lease.history.append(p)
        lease.phases = []
        lease.version += 1
        self._unlist(lease)
        lease.reason = reason
        self._finish(lease, S.CANCELLED)
        self._emit(now, lease, Notice.CANCELLED, reason)
        self._freed = True
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
        lease.reason = reason
        self._release(lease, now)
        if p0.activity is A.RESUME:
            self._emit(now, lease, Notice.PREEMPTED, "requeue", p0.hosts)
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
        self._freed = True
        self._changed = True
        self._settle(now)
        return self._drain()

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
            self._spans.append((host, now, inf))
            self._freed = True
            self._changed = True
            return True
        return False

    def next_event_time(self) -> float:
        heap = self._heap
        while heap:
            t, _, seq, version = heap[0]
            if self._by_seq[seq].version == version:
                return t
            heapq.heappop(heap)
        return inf

    def waiting(self) -> int:
        """Leases submitted and not yet running: queued or holding a future reservation."""
        return len(self.queue) + len(self.reserved)

    # ======================================================== event engine
    def _process(self, now: float) -> None:
        heap = self._heap
        while heap and heap[0][0] <= now + EPS:
            t, _, seq, version = heapq.heappop(heap)
            lease = self._by_seq[seq]
            if lease.version == version:
                self._step(lease, t)
        self.now = max(self.now, now)

    def _settle(self, now: float) -> None:
        if self._freed:
            self._freed = False
            self._compress(now)
            self._changed = True
        if self._changed:
            self._changed = False
            self._round(now)
            self.slots.prune(now)
            if self.images is not None:
                self.images.link.prune(now)

    def _drain(self) -> list[Event]:
        out, self._out = self._out, []
        return out

    def _emit(self, t: float, lease: Lease, notice: Notice, detail: str = "", hosts=(), until=None) -> None:
        self._out.append(Event(t, lease.id, notice, detail, tuple(hosts), until))

    def _push(self, lease: Lease) -> None:
        if not lease.phases:
            return
        p = lease.phases[0]
        t = p.end if p.started else p.start
        self._tick += 1
        heapq.heappush(self._heap, (t, self._tick, lease.seq, lease.version))

    def _step(self, lease: Lease, t: float) -> None:
        while lease.phases:
            p = lease.phases[0]
            if not p.started:
                if p.start > t + EPS:
                    break
                p.started = True
                self._phase_started(lease, p, t)
            if p.end <= t + EPS:
                lease.phases.pop(0)
                self._phase_ended(lease, p, t)
            else:
                break
        if lease.phases:
            self._push(lease)
        elif lease.state is S.ACTIVE and lease.remaining <= EPS:
            self._finish(lease, S.DONE)
            self._emit(t, lease, Notice.DONE)

    def _phase_started(self, lease: Lease, p: Phase, t: float) -> None:
        act = p.activity
        if act is A.TRANSFER:
            if lease.state is S.SCHEDULED:
                lease.to(S.PREPARING)
        elif act in (A.BOOT, A.RUN):
            if lease.state is S.PREPARING:
                lease.to(S.READY)
            if lease.state in (S.SCHEDULED, S.READY):
                lease.to(S.ACTIVE)
                self._unlist(lease)
            lease.hosts = p.hosts
            lease.booted = True
        elif act is A.SUSPEND:
            lease.to(S.SUSPENDING)
        elif act is A.MIGRATE:
            lease.to(S.MIGRATING)
            self._unlist(lease)
        elif act is A.RESUME:
            if lease.state is S.SUSPENDED_SCHEDULED:
                lease.to(S.RESUMING)
            elif lease.state is S.MIGRATING:
                lease.to(S.RESUMING)
            self._unlist(lease)
            lease.hosts = p.hosts
        self._emit(t, lease, Notice.PHASE_STARTED, act.value, p.hosts, p.end)

    def _phase_ended(self, lease: Lease, p: Phase, t: float) -> None:
        act = p.activity
        self._changed = True
        if p.lost:  # a run (or boot) that cancel-and-requeue or a failed start threw away
            lease.lost.append(p)
            self._emit(t, lease, Notice.PREEMPTED, "requeue", p.hosts)
            lease.remaining = self.timing.run_time(lease.req.duration)
            lease.hosts = None
            lease.booted = False
            lease.to(S.QUEUED)
            self.queue.add(lease)
            return
        lease.history.append(p)
        self._emit(t, lease, Notice.PHASE_ENDED, act.value, p.hosts)
        if act is A.RUN:
            lease.remaining -= p.end - p.start
            if lease.remaining < EPS:
                lease.remaining = 0.0
        elif act is A.SUSPEND:
            lease.to(S.SUSPENDED_PENDING)
            lease.suspensions += 1
            if lease.phases:
                lease.to(S.SUSPENDED_SCHEDULED)
                self.reserved.add(lease)
            else:
                lease.to(S.SUSPENDED_QUEUED)
                self.queue.add(lease)
        elif act is A.MIGRATE:
            lease.to(S.SUSPENDED_SCHEDULED)
            lease.hosts = p.hosts
        elif act is A.RESUME:
            lease.to(S.ACTIVE)
        elif act is A.TRANSFER:
            # A lease already READY may need a second transfer after being moved to other hosts.
            if lease.state is S.PREPARING and not (lease.phases and lease.phases[0].activity is A.TRANSFER):
                lease.to(S.READY)

    # ========================================================= reservations
    def _hold(self, lease: Lease, phases: list[Phase]) -> None:
        for start, end, hosts in _stretches(phases, -inf):
            self.slots.reserve_all(start, end, list(zip(hosts, lease.vecs)))
        for p in phases:
            if p.transfer is not None:
                self.images.hold(p.transfer, lease.req)
        if self.images is not None:
            held = [p for p in phases if p.holds]
            if held:
                self.images.use(lease.req, held[0].hosts, held[0].start)

    def _release(self, lease: Lease, from_t: float, track: bool = True, trial: bool = False,
                 tidy: bool = True) -> list[tuple[float, float, tuple[int, ...]]]:
        """Give back what the lease's planned phases hold from ``from_t`` on; returns
        those (start, end, hosts) intervals.

        A ``trial`` release only touches the slot table, whose journal undoes it.
        ``tidy=False`` leaves the slot table's breakpoints for a likely re-hold.
        """
        for p in lease.phases:
            if p.transfer is not None and not p.started and not trial:
                self.images.drop(p.transfer)
        given = _stretches(lease.phases, from_t)
        for s, end, hosts in given:
            self.slots.release_all(s, end, list(zip(hosts, lease.vecs)), tidy)
            if track:
                self._spans.extend((h, s, end) for h in set(hosts))
        return given

    def _adopt(self, lease: Lease, phases: list[Phase]) -> None:
        self._hold(lease, phases)
        lease.phases = phases
        lease.version += 1
        self._push(lease)

    def _finish(self, lease: Lease, state: S) -> None:
        lease.to(state)
        self.live.discard(lease)
        self.slots.forget(lease.id)
        self._copies_start.pop(lease.id, None)
        if lease.type is LeaseType.AR and lease.ar_start is not None:
            self._ar_starts.discard(lease.ar_start)
            lease.ar_start = None
        if self.images is not None:
            self.images.unuse(lease.req, lease.hosts or ())

    def _unlist(self, lease: Lease) -> None:
        if lease in self.queue:
            self.queue.remove(lease)
        if lease in self.reserved:
            self.reserved.remove(lease)

    def _shutdown_phase(self, t: float, hosts: tuple[int, ...]) -> list[Phase]:
        s = self.cfg.shutdown_time
        return [Phase(A.SHUTDOWN, t, t + s, hosts)] if s > 0 else []

    def _boot_time(self, lease: Lease) -> float:
        return 0.0 if lease.type is LeaseType.IM else self.cfg.boot_overhead

    @staticmethod
    def _chain(t: float, steps: list[tuple[Activity, float]], hosts: tuple[int, ...]) -> list[Phase]:
        """Back-to-back phases on the same hosts from ``t``; steps of no length are left out."""
        out = []
        for act, length in steps:
            if length > 0 or act is A.RUN:
                out.append(Phase(act, t, t + length, hosts))
                t += length
        return out

    def _fresh_phases(self, lease: Lease, start: float, hosts: tuple[int, ...]) -> list[Phase]:
        steps = [(A.BOOT, self._boot_time(lease)), (A.RUN, lease.remaining), (A.SHUTDOWN, self.cfg.shutdown_time)]
        return self._chain(start, steps, hosts)

    def _fresh_length(self, lease: Lease) -> float:
        return self._boot_time(lease) + lease.remaining + self.cfg.shutdown_time

    def _memories(self, lease: Lease) -> list[float]:
        return [n.get("memory", 0.0) for n in lease.req.nodes]

    def _resume_phases(self, lease: Lease, start: float, hosts: tuple[int, ...]) -> list[Phase]:
        mems = self._memories(lease)
        steps = [
            (A.MIGRATE, self.timing.migrate_time(mems, self._image_mb(lease), lease.hosts or hosts, hosts)),
            (A.RESUME, self.timing.resume_time(mems, hosts)),
            (A.RUN, lease.remaining),
            (A.SHUTDOWN, self.cfg.shutdown_time),
        ]
        return self._chain(start, steps, hosts)

    def _image_mb(self, lease: Lease) -> float:
        return lease.req.image.size_mb if lease.req.image else 0.0

    def _find(self, lease: Lease, earliest: float, latest_start: float = inf, now_only: bool = False) -> list[Phase] | None:
        """Phases for the lease's next stretch of work starting as early as possible."""
        mapper = self.mapper
        if lease.state in (S.SUSPENDED_QUEUED, S.SUSPENDED_SCHEDULED):
            return self._find_resume(lease, earliest, latest_start, now_only)
        length = self._fresh_length(lease)
        avoid = lease.avoid
        if now_only:
            hosts = mapper.map_at(lease.vecs, earliest, earliest + length, avoid)
            phases = None if hosts is None else self._with_image(lease, self._fresh_phases(lease, earliest, hosts))
            if phases is None and hosts is not None and lease.type is not LeaseType.IM:
                # "Now" for a lease whose image is missing: as soon as the image can be there.
                ready = max(earliest, self.images.earliest_ready(lease.req, self.now))
                hosts = mapper.map_at(lease.vecs, ready, ready + length, avoid)
                phases = None if hosts is None else self._with_image(lease, self._fresh_phases(lease, ready, hosts))
            return phases
        if self.images is not None and self._must_send(lease):
            # Its image has to be sent: nothing can start before it can arrive.
            earliest = max(earliest, self.images.earliest_ready(lease.req, self.now))
        found = mapper.earliest(lease.vecs, length, earliest, latest_start, avoid)
        if found is None:
            return None
        phases = self._with_image(lease, self._fresh_phases(lease, *found))
        if phases is None:
            # The image cannot arrive in time: start once it surely can, or sooner on
            # hosts that already hold the lease's own copies of it.
            ready = self.images.earliest_ready(lease.req, self.now)
            found = mapper.earliest(lease.vecs, length, max(earliest, ready), latest_start, avoid)
            if found is not None:
                phases = self._with_image(lease, self._fresh_phases(lease, *found))
            sooner = self._on_copies(lease, length, earliest, min(latest_start, found[0] - EPS if found else inf), avoid)
            if sooner is not None:
                phases = sooner
        return phases

    def _must_send(self, lease: Lease) -> bool:
        """Whether any start of the lease needs its image sent: no host holds it, or
        (without reuse) its own copies are on fewer hosts than it has VMs, none of
        which fits two of them."""
        if not self.images.may_have(lease.req):
            return True
        if self.cfg_images.reuse:
            return False
        hosts = self.images.copy_hosts(lease.req)
        return len(hosts) < len(lease.vecs) and hosts <= self._one_vm_hosts(self._smallest(lease))

    def _on_copies(self, lease: Lease, length: float, earliest: float, latest_start: float,
                   avoid: frozenset[int]) -> list[Phase] | None:
        """Phases on hosts that hold the lease's own copies of its image, starting by
        ``latest_start``. Looked for when its VMs are alike and no host fits two."""
        slots = self.slots
        vecs = lease.vecs
        n = len(vecs)
        vm = vecs[0]
        hosts = sorted(h for h in self.images.copy_hosts(lease.req) if h not in avoid and slots.enabled[h])
        if len(hosts) < n or any(v != vm for v in vecs) or not self._one_vm_hosts(vm).issuperset(hosts):
            return None
        start_from = max(earliest, min(self.images.ready_on(lease.req, h) for h in hosts))
        if start_from > latest_start + EPS:
            return None
        t = slots.earliest_on_enough(hosts, vm, n, length, start_from, latest_start + length)
        if t is None or t > latest_start + EPS:
            return None
        others = frozenset(range(slots.nhosts)).difference(hosts)
        placed = self.mapper.map_at(vecs, t, t + length, others)
        return None if placed is None else self._with_image(lease, self._fresh_phases(lease, t, placed))

    def _with_image(self, lease: Lease, phases: list[Phase], latest_hole: bool = False) -> list[Phase] | None:
        """Phases preceded by the transfer of the lease's image, when hosts lack it."""
        if self.images is None:
            return phases
        first = phases[0]
        tr = self.images.plan(lease.req, first.hosts, first.start, self.now, latest_hole)
        if tr is None:
            return None
        if not tr.hosts:
            return phases
        return [Phase(A.TRANSFER, tr.start, tr.end, tr.hosts, holds=False, transfer=tr)] + phases

    def _find_resume(self, lease: Lease, earliest: float, latest_start: float, now_only: bool) -> list[Phase] | None:
        mems = self._memories(lease)
        old = lease.hosts
        assert old is not None
        best: list[Phase] | None = None
        stay = self.timing.resume_time(mems, old) + lease.remaining + self.cfg.shutdown_time
        t = earliest
        slots = self.slots
        need = total_demand(lease.vecs)
        while t <= latest_start + EPS and t != inf:
            t2 = slots.total_fits(t, t + stay, need)
            if t2 != t:
                t = t2
                continue
            if self.mapper.map_fixed(lease.vecs, old, t, t + stay):
                best = self._resume_phases(lease, t, old)
                break
            if now_only:
                break
            t = slots.next_change(t)
        if self.cfg.migration is MigrationMode.NO:
            return best
        # Elsewhere, paying for the move; an upper bound of the move reserves the window.
        move = self.timing.migrate_time(mems, self._image_mb(lease), old, [-1] * len(old))
        if self.cfg.migration is MigrationMode.YES:
            move = sum((m + self._image_mb(lease)) / self.cfg.migration_bandwidth for m in mems)
        length = move + self.timing.resume_time(mems, old) + lease.remaining + self.cfg.shutdown_time
        limit = min(latest_start, best[0].start - EPS) if best else latest_start
        if now_only:
            hosts = self.mapper.map_at(lease.vecs, earliest, earliest + length, lease.avoid)
            found = (earliest, hosts) if hosts is not None and earliest <= limit + EPS else None
        else:
            found = self.mapper.earliest(lease.vecs, length, earliest, limit, lease.avoid)
        if found is not None:
            return self._resume_phases(lease, *found)
        return best

    # ============================================================ admission
    def _never_fits(self, lease: Lease) -> str | None:
        if lease.vecs not in self._fit_cache:
            self._fit_cache[lease.vecs] = self._never_fits_uncached(lease)
        return self._fit_cache[lease.vecs]

    def _never_fits_uncached(self, lease: Lease) -> str | None:
        need = total_demand(lease.vecs)
        names = self.site.resource_types
        for r, (x, cap) in enumerate(zip(need, self._site_total)):
            if x > cap + EPS:
                return f"needs {x:g} {names[r]} in total, the site has {cap:g}"
        for i, v in enumerate(lease.vecs):
            if not any(all(x <= c + EPS for x, c in zip(v, cap)) for cap in self._host_caps):
                return f"node {i} needs more than any single host has"
        if self.mapper.map_at(lease.vecs, inf, inf) is None:  # at infinity the site is empty
            return f"its {lease.req.n_nodes} VMs cannot be placed on the site's hosts together"
        return None

    def _reject(self, lease: Lease, t: float, why: str) -> None:
        lease.reason = why
        self._finish(lease, S.REJECTED)
        self._emit(t, lease, Notice.REJECTED, why)

    def _accept(self, lease: Lease, phases: list[Phase], t: float) -> None:
        self._adopt(lease, phases)
        lease.to(S.SCHEDULED)
        self._emit(t, lease, Notice.ACCEPTED, hosts=phases[0].hosts, until=phases[0].start)
        victims, self._replan_after_accept = self._replan_after_accept, []
        for v in victims:
            self._replan_deadline_remainder(v, t)
        self._step(lease, t)

    def _schedule_exact(self, lease: Lease, now: float) -> None:
        req = lease.req
        start = req.start - self._boot_time(lease)
        if start < now + self.cfg.non_schedulable_interval - EPS:
            self._reject(lease, now, f"requested start {req.start:g} leaves no time to prepare (now {now:g})")
            return
        end = start + self._fresh_length(lease)
        hosts = self.mapper.map_at(lease.vecs, start, end)
        if hosts is None and self.cfg.preemption is not Preemption.NONE:
            hosts = self._preempt_for(lease, start, end, now)
        if hosts is None:
            self._reject(lease, now, f"no capacity for {req.n_nodes} VMs at {req.start:g}")
            return
        phases = self._with_image(lease, self._fresh_phases(lease, start, hosts), latest_hole=True)
        if phases is None:
            self._reject(lease, now, f"its image cannot reach the hosts before {req.start:g}")
            return
        lease.ar_start = start
        self._ar_starts.add(start)
        self._accept(lease, phases, now)

    def _schedule_immediate(self, lease: Lease, now: float) -> None:
        phases = self._find(lease, now, now_only=True)
        if phases is None:
            self._reject(lease, now, f"no capacity for {lease.req.n_nodes} VMs now")
            return
        self._accept(lease, phases, now)

    def _deadline_window(self, lease: Lease, now: float) -> tuple[float, float]:
        earliest = max(now + self.cfg.non_schedulable_interval, lease.req.start or 0.0)
        # The run (not the shutdown) must end by the deadline.
        latest = lease.req.deadline - (self._fresh_length(lease) - self.cfg.shutdown_time)
        return earliest, latest

    def _schedule_deadline(self, lease: Lease, now: float) -> None:
        earliest, latest = self._deadline_window(lease, now)
        phases = self._find(lease, earliest, latest) if earliest <= latest + EPS else None
        if phases is None and self.cfg.preemption is Preemption.DEADLINE_AWARE and earliest <= latest + EPS:
            length = self._fresh_length(lease)
            hosts = self._preempt_for(lease, earliest, earliest + length, now)
            if hosts is not None:
                phases = self._with_image(lease, self._fresh_phases(lease, earliest, hosts))
        if phases is None:
            self._reject(lease, now, f"cannot finish by its deadline {lease.req.deadline:g}")
            return
        self._accept(lease, phases, now)
        if lease.state is S.SCHEDULED:
            self.reserved.add(lease)

    # ============================================================ preemption
    def _victim_types(self, requester: Lease) -> set[LeaseType]:
        # Deadline victims are only taken when they can still meet their own deadline.
        if requester.type is LeaseType.AR or self.cfg.preemption is Preemption.DEADLINE_AWARE:
            return {LeaseType.BE, LeaseType.DEADLINE}
        return {LeaseType.BE}

    def _candidates(self, requester: Lease, start: float, end: float, now: float) -> list[Lease]:
        types = self._victim_types(requester)
        out = []
        for lease in self.live:
            if lease is requester or lease.type not in types or not lease.req.preemptible:
                continue
            if not lease.phases or lease.state.final:
                continue
            p0 = lease.phases[0]
            overlaps = any(p.holds and p.start < end - EPS and p.end > start + EPS for p in lease.phases)
            if not overlaps:
                continue
            if p0.started and not (p0.activity is A.RUN and p0.end > start + EPS and lease.state is S.ACTIVE):
                continue  # booting, suspending, resuming, migrating or shutting down: leave it be
            out.append(lease)
        # Cheapest first: unstarted reservations, then the most recently submitted.
        out.sort(key=lambda L: (L.phases[0].started, -L.req.submit, -L.seq))
        return out

    def _can_suspend(self, lease: Lease, at: float, now: float) -> float | None:
        """When the suspension must begin for the VMs to be saved by ``at``, or None."""
        mode = self.cfg.suspension
        if mode is SuspensionMode.NONE or (mode is SuspensionMode.SERIAL_ONLY and lease.req.n_nodes > 1):
            return None
        run = lease.phases[0]
        s = self.timing.suspend_time(self._memories(lease), run.hosts)
        begin = at - s
        if begin < now - EPS or begin <= run.start + EPS:
            return None
        return begin

    def _preempt_for(self, lease: Lease, start: float, end: float, now: float) -> tuple[int, ...] | None:
        """Preempt leases until ``lease`` fits on [start, end); the hosts, or None."""
        candidates = self._candidates(lease, start, end, now)
        if not candidates:
            return None
        for _ in range(2):
            chosen, hosts = self._trial(lease, candidates, start, end, now)
            if hosts is None:
                return None
            stuck = [v for v in chosen if v.type is LeaseType.DEADLINE and not self._deadline_survives(v, chosen, lease, start, end, now)]
            if not stuck:
                break
            candidates = [c for c in candidates if c not in stuck]
        else:
            return None
        for v in chosen:
            self._preempt(v, start, now)
        # Deadline victims get their remainder planned once the requester holds its slot.
        self._replan_after_accept = [v for v in chosen if v.type is LeaseType.DEADLINE]
        return self.mapper.map_at(lease.vecs, start, end)

    def _trial(self, lease: Lease, candidates: list[Lease], start: float, end: float, now: float):
        self.slots.begin()
        chosen: list[Lease] = []
        hosts = None
        try:
            for v in candidates:
                self._release(v, start if v.phases[0].started else now, trial=True)
                chosen.append(v)
                hosts = self.mapper.map_at(lease.vecs, start, end)
                if hosts is not None:
                    break
        finally:
            self.slots.rollback()
        return chosen, hosts

    def _deadline_survives(self, victim: Lease, chosen: list[Lease], lease: Lease, start: float, end: float, now: float) -> bool:
        """Whether a deadline lease preempted for ``lease`` could still meet its deadline."""
        self.slots.begin()
        try:
            for v in chosen:
                self._release(v, start if v.phases[0].started else now, trial=True)
            hosts = self.mapper.map_at(lease.vecs, start, end)
            if hosts is None:
                return False
            for node, h in enumerate(hosts):
                self.slots.reserve(h, start, end, lease.vecs[node])
            return self._deadline_remainder(victim, start, now) is not None
        finally:
            self.slots.rollback()

    def _deadline_remainder(self, victim: Lease, at: float, now: float) -> list[Phase] | None:
        """Phases that would finish a preempted deadline lease in time (not reserved)."""
        p0 = victim.phases[0]
        if not p0.started:
            earliest, latest = self._deadline_window(victim, now)
            return self._find(victim, earliest, latest)
        begin = self._can_suspend(victim, at, now)
        if begin is None:
            return None
        remaining = victim.remaining - (begin - p0.start)
        saved_remaining, saved_state, saved_hosts = victim.remaining, victim.state, victim.hosts
        victim.remaining, victim.state, victim.hosts = remaining, S.SUSPENDED_QUEUED, p0.hosts
        try:
            latest = victim.req.deadline - remaining - self.timing.resume_time(self._memories(victim), p0.hosts)
            return self._find(victim, max(at, now), latest)
        finally:
            victim.remaining, victim.state, victim.hosts = saved_remaining, saved_state, saved_hosts

    def _replan_deadline_remainder(self, victim: Lease, now: float) -> None:
        if victim.state in (S.QUEUED, S.SUSPENDED_QUEUED):
            earliest, latest = self._deadline_window(victim, now)
            phases = self._find(victim, earliest, latest)
            if phases is not None:
                self._adopt(victim, phases)
                self.queue.remove(victim)
                victim.to(S.SCHEDULED if victim.state is S.QUEUED else S.SUSPENDED_SCHEDULED)
                self.reserved.add(victim)
            return
        # Running, with a suspension planned: plan the resume right away. (Without
        # one it will be requeued, and the queue round replans or fails it.)
        if not victim.phases or victim.phases[-1].activity is not A.SUSPEND:
            return
        susp = victim.phases[-1]
        run = victim.phases[0]
        left = victim.remaining - (run.end - run.start)
        state, remaining = victim.state, victim.remaining
        victim.state, victim.remaining = S.SUSPENDED_QUEUED, left
        try:
            latest = victim.req.deadline - left - self.timing.resume_time(self._memories(victim), run.hosts)
            phases = self._find(victim, susp.end, latest)
        finally:
            victim.state, victim.remaining = state, remaining
        if phases is not None:
            self._hold(victim, phases)
            victim.phases.extend(phases)
            victim.version += 1
            self._push(victim)

    def _preempt(self, victim: Lease, at: float, now: float) -> None:
        """Make ``victim`` give up its capacity from ``at`` on."""
        p0 = victim.phases[0]
        if not p0.started:
            self._release(victim, now)
            victim.phases = []
            victim.version += 1
            self._unlist(victim)
            victim.to(S.SUSPENDED_QUEUED if victim.state is S.SUSPENDED_SCHEDULED else S.QUEUED)
            self.queue.add(victim)
            self._emit(now, victim, Notice.PREEMPTED, "unschedule")
            return
        begin = self._can_suspend(victim, at, now)
        self._release(victim, at)
        if begin is not None and victim.preemptible:
            p0.end = begin
            victim.phases = [p0, Phase(A.SUSPEND, begin, at, p0.hosts, started=False)]
            self._emit(now, victim, Notice.PREEMPTED, "suspend", p0.hosts, at)
        else:
            p0.end = at
            p0.lost = True
            victim.phases = [p0]
            self._emit(now, victim, Notice.PREEMPTED, "cancel-and-requeue", p0.hosts, at)
        victim.version += 1
        self._push(victim)

    # ============================================================== queue
    def _reservation_limit(self) -> float:
        mode = self.cfg.backfilling
        if mode is Backfilling.CONSERVATIVE:
            return inf
        if mode is Backfilling.AGGRESSIVE:
            return 1
        if mode is Backfilling.INTERMEDIATE:
            return self.cfg.backfilling_reservations
        return 0

    def _earliest_for(self, lease: Lease, now: float) -> tuple[float, float]:
        if lease.type is LeaseType.DEADLINE:
            earliest, latest = self._deadline_window(lease, now)
            if lease.state in (S.SUSPENDED_QUEUED, S.SUSPENDED_SCHEDULED):
                latest = lease.req.deadline - lease.remaining - self.timing.resume_time(self._memories(lease), lease.hosts or ())
            return earliest, latest
        return now + self.cfg.non_schedulable_interval, inf

    def _round(self, now: float) -> None:
        """Give queued leases a start now or, as backfilling allows, a future reservation."""
        if not self.queue:
            return
        limit = self._reservation_limit()
        held = sum(1 for L in self.reserved if L.type is LeaseType.BE)
        strict = self.cfg.backfilling is Backfilling.OFF
        for lease in list(self.queue):
            earliest, latest = self._earliest_for(lease, now)
            future = held < limit or lease.type is LeaseType.DEADLINE
            phases = self._find(lease, earliest, latest, now_only=not future) if earliest <= latest + EPS else None
            if lease.type is LeaseType.BE and (phases is None or self._held_start(phases) > earliest + EPS):
                # It cannot run to the end now: run until something blocks it, then suspend.
                phases = self._partial(lease, earliest) or phases
            if phases is None:
                if lease.type is LeaseType.DEADLINE and (not future or earliest > latest):
                    self.queue.remove(lease)
                    lease.reason = "can no longer finish by its deadline"
                    self._finish(lease, S.FAILED)
                    self._emit(now, lease, Notice.CANCELLED, lease.reason)
                    continue
                if strict:
                    break
                continue
            self.queue.remove(lease)
            self._adopt(lease, phases)
            lease.to(S.SUSPENDED_SCHEDULED if lease.state is S.SUSPENDED_QUEUED else S.SCHEDULED)
            self._emit(now, lease, Notice.SCHEDULED, hosts=phases[0].hosts, until=phases[0].start)
            if phases[0].start > now + EPS:
                self.reserved.add(lease)
                if lease.type is LeaseType.BE:
                    held += 1
            else:
                self._step(lease, now)

    @staticmethod
    def _held_start(phases: list[Phase]) -> float:
        return next(p.start for p in phases if p.holds)

    def _partial(self, lease: Lease, t: float) -> list[Phase] | None:
        """Phases that run the lease from ``t`` until capacity runs out, then suspend it.

        Only when the run is at least the scheduling threshold (so a lease is
        not started for less time than suspending and resuming it costs), on
        the lease's own hosts when it is suspended, and with its image in place.
        """
        mode = self.cfg.suspension
        if mode is SuspensionMode.NONE or (mode is SuspensionMode.SERIAL_ONLY and lease.req.n_nodes > 1):
            return None
        if not lease.req.preemptible:
            return None
        suspended = lease.state is S.SUSPENDED_QUEUED
        fixed = lease.hosts if suspended else None
        mapper = self.mapper

        def fits(end: float) -> tuple[int, ...] | None:
            if fixed is not None:
                return fixed if mapper.map_fixed(lease.vecs, fixed, t, end) else None
            return mapper.map_at(lease.vecs, t, end, lease.avoid)

        # Best-effort work makes way for reservations: a partial run ends where an
        # accepted AR begins (the last such instant up to which the lease fits).
        ends = list(self._ar_starts.irange(t, inclusive=(False, True)))
        if not ends or fits(ends[0]) is None:
            return None
        lo, hi = 0, len(ends) - 1  # fits(ends[lo]) holds; find the last end that still fits
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if fits(ends[mid]) is not None:
                lo = mid
            else:
                hi = mid - 1
        end = ends[lo]
        hosts = fits(end)
        mems = self._memories(lease)
        pre = self.timing.resume_time(mems, hosts) if suspended else self._boot_time(lease)
        save = self.timing.suspend_time(mems, hosts)
        run = end - t - pre - save
        if run < max(self.timing.threshold(save, self.timing.resume_time(mems, hosts)), EPS) or run >= lease.remaining - EPS:
            return None
        phases = self._chain(t, [(A.RESUME if suspended else A.BOOT, pre), (A.RUN, run), (A.SUSPEND, save)], hosts)
        phases[-1].end = end  # exactly where the AR begins, whatever the rounding of the sum
        if self.images is not None and not suspended and self.images.missing(lease.req, hosts, t, self.now):
            return None
        return phases

    def _compress(self, now: float) -> None:
        """Move future reservations earlier into capacity freed before their time.

        One pass in queue order. A lease is only re-planned when capacity freed
        since the last pass could serve it (see :meth:`_start_range`) — otherwise
        re-planning it would only cost time.
        """
        freed, self._spans = FreedSpans(self.slots, self._spans, now), []
        for lease in list(self.reserved):
            if not freed:
                break
            p0 = lease.phases[0]
            if p0.started or p0.start <= now + EPS:
                continue
            old = lease.phases
            held = [p for p in old if p.holds]
            old_start = _begins(old)
            earliest, latest = self._earliest_for(lease, now)
            latest = min(latest, old_start - EPS)
            if earliest > latest:
                continue
            window = self._start_range(lease, held, freed, now, old_start, earliest, latest)
            if window is None:
                continue
            # Most leases tried here stay where they are: release without merging
            # breakpoints, so that holding them again shifts nothing in the grid.
            given = self._release(lease, now, track=False, tidy=False)
            lease.phases = []
            found = self._find(lease, max(earliest, window[0]), min(latest, window[1]))
            if found is not None and _begins(found) < old_start - EPS:
                for s, e, _ in given:
                    self.slots.tidy(s, e)
                self._adopt(lease, found)
                freed.add([(h, s, e) for s, e, hosts in given for h in set(hosts)],
                          taken={h for p in found if p.holds for h in p.hosts})
                self._emit(now, lease, Notice.SCHEDULED, "earlier", found[0].hosts, found[0].start)
                if found[0].start <= now + EPS:
                    self._step(lease, now)
            else:
                lease.phases = old
                self._hold(lease, old)
        # Capacity a move vacated serves the leases after it in this pass, not those it
        # had already passed by (re-planning every lease at every compression would give
        # them a chance; on the squeezed Blue trace that costs 4x the time).
        self._spans = []

    def _start_range(self, lease: Lease, held: list[Phase], freed: FreedSpans, now: float, old_start: float,
                     earliest: float, latest: float) -> tuple[float, float] | None:
        """The range of starts worth searching for ``lease``, or None when capacity freed
        since the last pass surely cannot give it a start before ``old_start``."""
        old = lease.phases
        length = sum(p.end - p.start for p in held)
        mine = (held[0].start, held[-1].end) if held else None
        own = set(held[0].hosts) if held else set()
        small = self._smallest(lease)
        in_place = lease.state is S.SUSPENDED_SCHEDULED and self.cfg.migration is MigrationMode.NO
        may_send = False  # a send of its image could come in time for some start
        planned = None  # where its planned transfer begins
        if not in_place and self.images is not None and not self.cfg_images.reuse:
            # Without image reuse a lease can start earlier elsewhere only once its image
            # is sent there. If the link cannot send it any sooner, a lease about to send
            # it can only move to hosts that already hold a copy of it, and one whose
            # hosts already hold it can only move in place.
            first = old[0]
            copies = self.images.copies_of(lease.req)
            planned = first.start if first.transfer is not None else None

            def own_copies() -> bool:
                return first.transfer is None and copies == len(own) and all(
                    self.images.has(h, self.images.image_of(lease.req)[0], old_start, lease.id, now) for h in own)

            if lease.state in (S.SUSPENDED_QUEUED, S.SUSPENDED_SCHEDULED):
                if first.transfer is not None and copies == len(first.transfer.copies):
                    if not self.images.could_send_before(lease.req, first.start, now):
                        return None
                elif own_copies():
                    in_place = not self.images.could_send_before(lease.req, old_start, now)
            elif not self.images.could_arrive_by(lease.req, latest, now, planned):
                if own_copies():
                    in_place = True
                elif not self._copies_could_serve(lease, held, small, length, earliest, latest, now):
                    return None
            else:
                may_send = True
        if in_place and held and held[0].start <= old_start + EPS:
            # Only capacity freed on its own hosts before its start can help (from
            # there on its own slot covers it), and whether they are free earlier is
            # then one exact question.
            if not freed.any_before(own, old_start):
                return None
            need = demand_per_host(zip(held[0].hosts, lease.vecs))
            start = self.slots.earliest_in_place(need, length, max(earliest, now), old_start, key=lease.id)
            return None if start is None or start > latest else (start, latest)
        window = freed.window(small, length, old_start, own, mine)
        if window is None or not self._site_could_fit(lease, length, window, old_start):
            return None
        if may_send:
            # A start that needs its image sent cannot come before it can arrive; if
            # none is left in the window, only hosts that hold copies of it can serve.
            arrive = self.images.earliest_arrival(lease.req, now, planned)
            if (arrive > window[1] + EPS or not self._site_could_fit(
                    lease, length, (max(window[0], arrive), window[1]), old_start)) and \
                    not self._copies_could_serve(lease, held, small, length, earliest, window[1], now):
                return None
        return window

    def _copies_could_serve(self, lease: Lease, held: list[Phase], small: tuple[float, ...], length: float,
                            earliest: float, latest: float, now: float) -> bool:
        """Whether the hosts holding copies of the lease's image (other than those its
        planned transfer brings) could take it by ``latest``, when no send can.

        Told only when each of those hosts fits at most one of its VMs: then as many
        of them as it has VMs must be free at once. Its own slot counts as taken, so
        windows are cut where that slot begins. The earliest such start is
        remembered until the lease's copies or one of those hosts change.
        """
        if not held:
            return True
        first = lease.phases[0]
        stamp = (self.images.copies_version(lease.req), first.transfer, held[0].start, length)
        start_from = max(earliest, now)
        memo = self._copies_start.get(lease.id)
        if memo is not None and memo[0] == stamp:
            order = memo[1]
            if order is None:
                return memo[2]
            tls = self.slots.hosts
            versions = tuple([tls[h].version for h in order])
            if memo[2] == versions and start_from >= memo[3] and (memo[4] is None or memo[4] >= start_from):
                return memo[4] is not None and memo[4] <= latest + EPS
        else:
            hosts = self.images.copy_hosts(lease.req, first.transfer)
            n = len(lease.vecs)
            order = sorted(hosts) if len(hosts) >= n and hosts <= self._one_vm_hosts(small) else None
            if order is None:
                told = len(hosts) >= n  # fewer hosts than VMs cannot; else not told
                self._copies_start[lease.id] = (stamp, None, told)
                return told
            tls = self.slots.hosts
            versions = tuple([tls[h].version for h in order])
        start = self.slots.earliest_on_enough(order, small, len(lease.vecs), length, start_from, held[0].start)
        self._copies_start[lease.id] = (stamp, order, versions, start_from, start)
        return start is not None and start <= latest + EPS

    def _smallest(self, lease: Lease) -> tuple[float, ...]:
        """The lease's smallest VM, per resource."""
        small = self._small.get(lease.vecs)
        if small is None:
            small = self._small[lease.vecs] = min_vec(lease.vecs)
        return small

    def _one_vm_hosts(self, vm: tuple[float, ...]) -> frozenset[int]:
        """Hosts on which two VMs of this size never fit together."""
        got = self._one_vm.get(vm)
        if got is None:
            got = self._one_vm[vm] = frozenset(
                h for h, cap in enumerate(self._host_caps) if any(2 * x > c + EPS for x, c in zip(vm, cap)))
        return got

    def _site_could_fit(self, lease: Lease, length: float, window: tuple[float, float], held_from: float) -> bool:
        """Whether the site as a whole has room for ``lease`` to start in ``window``.

        Checked without releasing the lease's own slot: from ``held_from`` on
        that slot covers the lease's whole demand, so only the part of each
        candidate window before it needs free capacity.
        """
        need = total_demand(lease.vecs)
        t, last = window
        while t <= last + EPS:
            t2 = self.slots.total_fits(t, min(t + length, held_from), need)
            if t2 == t:
                return True
            t = t2
        return False
