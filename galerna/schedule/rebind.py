"""Re-binding: move a future reservation to other hosts, same start and end, so that a backfill fits.

A reservation is planned on particular hosts, but until it starts those hosts
are only a promise: any other hosts free for its whole interval serve it as well.
Without this a lease that fits on the site's free count now is refused because
the hosts free now are those a future reservation was bound to (issue 14 §5;
EASY, which counts nodes only, would start it). So, when the queue round finds a
lease cannot start at its earliest instant although the site as a whole has room
for it there, :func:`make_room` tries, on the slot table inside a journal that is
always rolled back:

1. release the future reservations that overlap the lease's interval, latest in
   the queue first, until the lease fits;
2. hold the lease there; each released reservation whose own hosts are still
   free keeps them, and the others are mapped again over their own interval
   (same start, same end) on hosts free for all of it (if that fails, all are
   mapped again, in queue order);
3. if every one fits, return the moves (``decisions.Move``, same instants, other
   hosts) and the lease's phases for the front door to apply; else nothing.

It decides only; nothing is changed. Only reservations that are one unbroken
stretch on one set of hosts and not begun are re-bound (fresh best-effort and
deadline reservations). ARs are never re-bound: their hosts were given to their
owner when they were accepted (the ACCEPTED event names them), and they are
exact commitments. Suspended leases (their state is saved on their hosts) are
not re-bound either. With image transfers modelled it declines: a reservation's
image is sent to its own hosts, and moving it would mean re-planning the send.
"""
from __future__ import annotations

from dataclasses import dataclass

from galerna.model.state import LeaseState as S
from galerna.schedule.context import CoreContext
from galerna.schedule.decisions import Move
from galerna.schedule.lease import Lease, Phase
from galerna.schedule.mapper import total_demand
from galerna.schedule.phases import stretches
from galerna.schedule.search import Fresh, Search, want_of
from galerna.schedule.timeline import EPS


@dataclass(frozen=True)
class Room:
    """What makes room for ``phases`` of the lease: reservations re-bound to other hosts."""
    moves: list[Move]
    phases: list[Phase]


def rebinds(ctx: CoreContext) -> bool:
    """Whether the configuration lets the queue round re-bind reservations."""
    return ctx.cfg.rebind and ctx.images is None


def _stretch(lease: Lease, now: float) -> tuple[float, float, tuple[int, ...]] | None:
    """The one interval and hosts a re-bindable reservation holds, else None."""
    if lease.state is not S.SCHEDULED or not lease.phases:
        return None
    p0 = lease.phases[0]
    if p0.started or p0.start <= now + EPS or any(not p.holds or p.transfer is not None for p in lease.phases):
        return None
    held = stretches(lease.phases)
    return held[0] if len(held) == 1 else None


def make_room(ctx: CoreContext, search: Search, lease: Lease, at: float) -> Room | None:
    """Moves of future reservations to other hosts that let ``lease`` start at ``at``, or None."""
    want = want_of(lease)
    if not isinstance(want, Fresh):
        return None
    book, slots, now = ctx.book, ctx.slots, ctx.now
    end = at + ctx.phases.fresh_length(lease)
    if slots.total_fits(at, end, total_demand(lease.vecs)) != at:
        return None  # the site lacks the capacity: hosts do not matter
    blockers = []
    for r in book.reserved:
        if r is lease:
            continue
        s = _stretch(r, now)
        if s is not None and s[0] < end - EPS and s[1] > at + EPS:
            blockers.append((r, s))
    if not blockers:
        return None
    slots.begin()
    try:
        released = []
        phases = None
        for r, s in reversed(blockers):
            book.release(r, now, track=False, trial=True)
            released.append((r, s))
            phases = search.find(want, at, at, now_only=True)
            if phases is not None and phases[0].start <= at + EPS:
                break
            phases = None
        if phases is None:
            return None
        book.hold(lease, phases)
        released.sort(key=lambda x: (x[0].req.submit, x[0].seq))
        moves = _rehome(ctx, released, keep=True)
        if moves is None:
            moves = _rehome(ctx, released, keep=False)
        if moves is None:
            return None
        ctx.stats.rebinds += len(moves)
        return Room(moves, phases)
    finally:
        slots.rollback()


def _rehome(ctx: CoreContext, released: list, keep: bool) -> list[Move] | None:
    """Hold each released reservation again at its instants: with ``keep``, those whose own hosts are still free
    keep them and only the others are mapped anew (fewest moves); else all are mapped anew, in queue order.
    The moves, or None (with what it held given back) when one does not fit."""
    slots, mapper = ctx.slots, ctx.mapper
    held, moves, homeless = [], [], []
    for r, (s, e, old) in released:
        if keep and mapper.map_fixed(r.vecs, old, s, e):
            slots.reserve_all(s, e, list(zip(old, r.vecs)))
            held.append((s, e, list(zip(old, r.vecs))))
        else:
            homeless.append((r, s, e, old))
    for r, s, e, old in homeless:
        hosts = mapper.map_at(r.vecs, s, e, r.avoid)
        if hosts is None:
            for s2, e2, placed in held:
                slots.release_all(s2, e2, placed)
            return None
        slots.reserve_all(s, e, list(zip(hosts, r.vecs)))
        held.append((s, e, list(zip(hosts, r.vecs))))
        if hosts != old:
            moves.append(Move(r, [Phase(p.activity, p.start, p.end, hosts) for p in r.phases]))
    return moves
