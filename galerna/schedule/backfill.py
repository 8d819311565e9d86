"""The queue round: give queued leases a start now or, as backfilling allows, a future reservation.

In queue order (submit time), each lease gets the earliest phases it can have.
Conservative backfilling gives every best-effort lease a reservation,
aggressive gives one, intermediate N, off none, and then the queue blocks
behind its head. A best-effort lease that cannot run to its end now may run a
partial run (``suspension.py``). A queued deadline lease that can no longer meet
its deadline fails. A lease the site has room for at its earliest start but whose
hosts there are bound to future reservations may have those re-bound to other
hosts (``rebind.py``, ``scheduling.rebind``): each is a ``Move`` yielded before
the lease's ``Place``.

:func:`queue_round` yields one decision at a time (``Place`` or ``Fail``) and
expects the front door to apply it before asking for the next: each placement
takes capacity the next lease's search must see.
"""
from __future__ import annotations

from math import inf
from typing import Iterator

from galerna.model.lease import LeaseType
from galerna.schedule.context import CoreContext
from galerna.schedule.decisions import Fail, Move, Place
from galerna.schedule.phases import held_start
from galerna.schedule.plan import Refusal, RefusalKind
from galerna.schedule.policies.backfilling import blocks, reservation_limit
from galerna.schedule.rebind import make_room, rebinds
from galerna.schedule.search import Search, want_of
from galerna.schedule.suspension import partial_run
from galerna.schedule.timeline import EPS


def queue_round(ctx: CoreContext, search: Search, now: float) -> Iterator[Place | Fail | Move]:
    book = ctx.book
    if not book.queue:
        return
    ctx.stats.rounds += 1
    limit = reservation_limit(ctx.cfg)
    # Under conservative backfilling (no limit) every lease may reserve: counting the
    # reservations held, a walk over all of them per round, would not change that.
    held = sum(1 for L in book.reserved if L.type is LeaseType.BE) if limit != inf else 0
    strict = blocks(ctx.cfg)
    rebind = rebinds(ctx)
    for lease in list(book.queue):
        earliest, latest = ctx.phases.start_window(lease, now)
        future = held < limit or lease.type is LeaseType.DEADLINE
        phases = search.find(want_of(lease), earliest, latest, now_only=not future) if earliest <= latest + EPS else None
        if rebind and earliest <= latest + EPS and (phases is None or held_start(phases) > earliest + EPS):
            room = make_room(ctx, search, lease, earliest)  # hosts of future reservations are only a promise
            if room is not None:
                yield from room.moves
                phases = room.phases
        if lease.type is LeaseType.BE and (phases is None or held_start(phases) > earliest + EPS):
            # It cannot run to the end now: run until something blocks it, then suspend.
            phases = partial_run(ctx, lease, earliest) or phases
        if phases is None:
            if lease.type is LeaseType.DEADLINE and (not future or earliest > latest):
                yield Fail(lease, Refusal(RefusalKind.DEADLINE_MISSED))
                continue
            if strict:
                break
            continue
        ctx.stats.placed += 1
        reserves = phases[0].start > now + EPS and lease.type is LeaseType.BE  # before it is applied: a start
        yield Place(lease, phases)  # now steps the lease, and phases that end at once leave the list
        if reserves:
            held += 1
