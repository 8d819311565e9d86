"""Suspension: whether a lease may be suspended, and partial runs.

A best-effort lease that cannot run to its end now may run now until something
blocks it (the next accepted AR it does not fit past), then suspend, if that
run lasts at least the scheduling threshold: a lease is not started for less
time than suspending and resuming it costs.
"""
from __future__ import annotations

from galerna.config.schema import SuspensionMode
from galerna.model.state import LeaseState as S
from galerna.schedule.context import CoreContext
from galerna.schedule.lease import Activity, Lease, Phase
from galerna.schedule.phases import chain, memories
from galerna.schedule.timeline import EPS

A = Activity


def may_suspend(ctx: CoreContext, lease: Lease) -> bool:
    """Whether the suspension mode lets this lease be suspended at all."""
    mode = ctx.cfg.suspension
    return not (mode is SuspensionMode.NONE or (mode is SuspensionMode.SERIAL_ONLY and lease.req.n_nodes > 1))


def suspend_begin(ctx: CoreContext, lease: Lease, at: float, now: float) -> float | None:
    """When the running lease's suspension must begin for its VMs to be saved by ``at``, or None."""
    if not may_suspend(ctx, lease):
        return None
    run = lease.phases[0]
    s = ctx.timing.suspend_time(memories(lease), run.hosts)
    begin = at - s
    if begin < now - EPS or begin <= run.start + EPS:
        return None
    return begin


def partial_run(ctx: CoreContext, lease: Lease, t: float) -> list[Phase] | None:
    """Phases that run the lease from ``t`` until capacity runs out, then suspend it.

    Only when the run is at least the scheduling threshold, on the lease's own
    hosts when it is suspended, and with its image in place.
    """
    if not may_suspend(ctx, lease) or not lease.req.preemptible:
        return None
    suspended = lease.state is S.SUSPENDED_QUEUED
    fixed = lease.hosts if suspended else None
    mapper, timing = ctx.mapper, ctx.timing

    def fits(end: float) -> tuple[int, ...] | None:
        if fixed is not None:
            return fixed if mapper.map_fixed(lease.vecs, fixed, t, end) else None
        return mapper.map_at(lease.vecs, t, end, lease.avoid)

    # Best-effort work makes way for reservations: a partial run ends where an
    # accepted AR begins (the last such instant up to which the lease fits).
    ends = list(ctx.book.ar_starts.irange(t, inclusive=(False, True)))
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
    mems = memories(lease)
    pre = timing.resume_time(mems, hosts) if suspended else ctx.phases.boot_time(lease)
    save = timing.suspend_time(mems, hosts)
    run = end - t - pre - save
    if run < max(timing.threshold(save, timing.resume_time(mems, hosts)), EPS) or run >= lease.remaining - EPS:
        return None
    phases = chain(t, [(A.RESUME if suspended else A.BOOT, pre), (A.RUN, run), (A.SUSPEND, save)], hosts)
    phases[-1].end = end  # exactly where the AR begins, whatever the rounding of the sum
    if ctx.images is not None and not suspended and ctx.images.missing(lease.req, hosts, t, ctx.now):
        return None
    return phases
