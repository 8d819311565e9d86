"""Where a lease's next stretch of work can go: the earliest phases for it.

What is searched for is said by a value, never read from the lease's state:
``Fresh(lease)`` (boot and run its remaining time) or ``Resume(lease, hosts,
remaining)`` (its VMs are saved on ``hosts`` with ``remaining`` run time left),
so a caller asking "where would this lease resume if suspended now?" need not
patch the lease. The search only reads the slot table and the image link.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import inf

from galerna.config.schema import MigrationMode
from galerna.model.lease import LeaseType
from galerna.model.state import LeaseState as S
from galerna.schedule.context import CoreContext
from galerna.schedule.lease import Activity, Lease, Phase
from galerna.schedule.mapper import total_demand
from galerna.schedule.phases import image_mb, memories
from galerna.schedule.timeline import EPS

A = Activity


@dataclass(frozen=True, slots=True)
class Fresh:
    lease: Lease


@dataclass(frozen=True, slots=True)
class Resume:
    lease: Lease
    hosts: tuple[int, ...]  # where its VMs are saved
    remaining: float  # run time still ahead


Want = Fresh | Resume


def want_of(lease: Lease) -> Want:
    """What the lease's own state asks for: a resume when it is suspended, else a fresh start."""
    if lease.state in (S.SUSPENDED_QUEUED, S.SUSPENDED_SCHEDULED):
        return Resume(lease, lease.hosts, lease.remaining)
    return Fresh(lease)


class Search:
    def __init__(self, ctx: CoreContext):
        self.ctx = ctx

    def find(self, want: Want, earliest: float, latest_start: float = inf, now_only: bool = False) -> list[Phase] | None:
        """Phases for the lease's next stretch of work starting as early as possible."""
        if isinstance(want, Resume):
            return self._find_resume(want, earliest, latest_start, now_only)
        ctx = self.ctx
        lease = want.lease
        mapper, images, build = ctx.mapper, ctx.images, ctx.phases
        length = build.fresh_length(lease)
        avoid = lease.avoid
        if now_only:
            hosts = mapper.map_at(lease.vecs, earliest, earliest + length, avoid)
            phases = None if hosts is None else self.with_image(lease, build.fresh(lease, earliest, hosts))
            if phases is None and hosts is not None and lease.type is not LeaseType.IM:
                # "Now" for a lease whose image is missing: as soon as the image can be there.
                ready = max(earliest, images.earliest_ready(lease.req, ctx.now))
                hosts = mapper.map_at(lease.vecs, ready, ready + length, avoid)
                phases = None if hosts is None else self.with_image(lease, build.fresh(lease, ready, hosts))
            return phases
        if images is not None and self._must_send(lease):
            # Its image has to be sent: nothing can start before it can arrive.
            earliest = max(earliest, images.earliest_ready(lease.req, ctx.now))
        found = mapper.earliest(lease.vecs, length, earliest, latest_start, avoid)
        if found is None:
            return None
        phases = self.with_image(lease, build.fresh(lease, *found))
        if phases is None:
            # The image cannot arrive in time: start once it surely can, or sooner on
            # hosts that already hold the lease's own copies of it.
            ready = images.earliest_ready(lease.req, ctx.now)
            found = mapper.earliest(lease.vecs, length, max(earliest, ready), latest_start, avoid)
            if found is not None:
                phases = self.with_image(lease, build.fresh(lease, *found))
            sooner = self._on_copies(lease, length, earliest, min(latest_start, found[0] - EPS if found else inf), avoid)
            if sooner is not None:
                phases = sooner
        return phases

    def with_image(self, lease: Lease, phases: list[Phase], latest_hole: bool = False) -> list[Phase] | None:
        """Phases preceded by the transfer of the lease's image, when hosts lack it."""
        images = self.ctx.images
        if images is None:
            return phases
        first = phases[0]
        tr = images.plan(lease.req, first.hosts, first.start, self.ctx.now, latest_hole)
        if tr is None:
            return None
        if not tr.hosts:
            return phases
        return [Phase(A.TRANSFER, tr.start, tr.end, tr.hosts, holds=False, transfer=tr)] + phases

    def _must_send(self, lease: Lease) -> bool:
        """Whether any start of the lease needs its image sent: no host holds it, or
        (without reuse) its own copies are on fewer hosts than it has VMs, none of
        which fits two of them."""
        images = self.ctx.images
        if not images.may_have(lease.req):
            return True
        if self.ctx.cfg_images.reuse:
            return False
        hosts = images.copy_hosts(lease.req)
        shapes = self.ctx.shapes
        return len(hosts) < len(lease.vecs) and hosts <= shapes.one_vm_hosts(shapes.smallest(lease.vecs))

    def _on_copies(self, lease: Lease, length: float, earliest: float, latest_start: float,
                   avoid: frozenset[int]) -> list[Phase] | None:
        """Phases on hosts that hold the lease's own copies of its image, starting by
        ``latest_start``. Looked for when its VMs are alike and no host fits two."""
        ctx = self.ctx
        slots, images = ctx.slots, ctx.images
        vecs = lease.vecs
        n = len(vecs)
        vm = vecs[0]
        hosts = sorted(h for h in images.copy_hosts(lease.req) if h not in avoid and slots.enabled[h])
        if len(hosts) < n or any(v != vm for v in vecs) or not ctx.shapes.one_vm_hosts(vm).issuperset(hosts):
            return None
        start_from = max(earliest, min(images.ready_on(lease.req, h) for h in hosts))
        if start_from > latest_start + EPS:
            return None
        t = slots.earliest_on_enough(hosts, vm, n, length, start_from, latest_start + length)
        if t is None or t > latest_start + EPS:
            return None
        others = frozenset(range(slots.nhosts)).difference(hosts)
        placed = ctx.mapper.map_at(vecs, t, t + length, others)
        return None if placed is None else self.with_image(lease, ctx.phases.fresh(lease, t, placed))

    def _find_resume(self, want: Resume, earliest: float, latest_start: float, now_only: bool) -> list[Phase] | None:
        ctx = self.ctx
        lease, old, remaining = want.lease, want.hosts, want.remaining
        cfg, timing, build, slots, mapper = ctx.cfg, ctx.timing, ctx.phases, ctx.slots, ctx.mapper
        mems = memories(lease)
        assert old is not None
        best: list[Phase] | None = None
        stay = timing.resume_time(mems, old) + remaining + cfg.shutdown_time
        t = earliest
        need = total_demand(lease.vecs)
        while t <= latest_start + EPS and t != inf:
            t2 = slots.total_fits(t, t + stay, need)
            if t2 != t:
                t = t2
                continue
            if mapper.map_fixed(lease.vecs, old, t, t + stay):
                best = build.resume(lease, t, old, remaining, old)
                break
            if now_only:
                break
            t = slots.next_change(t)
        if cfg.migration is MigrationMode.NO:
            return best
        # Elsewhere, paying for the move; an upper bound of the move reserves the window.
        move = timing.migrate_time(mems, image_mb(lease), old, [-1] * len(old))
        if cfg.migration is MigrationMode.YES:
            move = sum((m + image_mb(lease)) / cfg.migration_bandwidth for m in mems)
        length = move + timing.resume_time(mems, old) + remaining + cfg.shutdown_time
        limit = min(latest_start, best[0].start - EPS) if best else latest_start
        if now_only:
            hosts = mapper.map_at(lease.vecs, earliest, earliest + length, lease.avoid)
            found = (earliest, hosts) if hosts is not None and earliest <= limit + EPS else None
        else:
            found = mapper.earliest(lease.vecs, length, earliest, limit, lease.avoid)
        if found is not None:
            return build.resume(lease, *found, remaining, old)
        return best
