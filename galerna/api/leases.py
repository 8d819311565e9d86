"""``/v1/leases`` and ``/v1/queue``: request, list, read, cancel and update leases; a lease's history; the queue.

``POST /v1/leases`` answers only after the request *and* the scheduler's decision are committed: 201 with the
lease (``scheduled``, ``queued``, ``active``…) or 409 with the reason when it cannot be granted (an AR that does
not fit, an immediate lease with no room now). The refused lease is kept, in state ``rejected``. Another
tenant's lease answers 404, as if absent. An ``Idempotency-Key`` header makes a retry safe: the same key with the
same body answers the lease the first request made (and its status), even after a 503; with another body, 422
(:mod:`galerna.daemon.idempotency`).
"""
from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query
from fastapi.responses import JSONResponse
from sqlalchemy import select

from galerna.api.auth import Principal, Who
from galerna.api.context import Ctx
from galerna.api.errors import REFUSALS, WITH_BODY, invalid, unknown_resource
from galerna.api.schemas import CORE_TYPE, EventOut, LeaseCreate, LeaseKind, LeaseOut, LeaseUpdate, QueueEntry
from galerna.api.views import event_out, lease_out
from galerna.daemon import idempotency
from galerna.daemon.errors import ErrorKind, Refused
from galerna.model.bounds import OutOfBounds, check_nodes
from galerna.model.lease import DiskImage
from galerna.model.site import UnknownResource, check_resources
from galerna.model.state import FINAL_STATES, WAITING_STATES
from galerna.store.db import Store
from galerna.store.models import LeaseEventRow, LeaseRow

router = APIRouter()
LeaseId = Annotated[str, Path(pattern=r"^[0-9]{1,18}$", description="lease id")]
WAITING = sorted(s.value for s in WAITING_STATES)


def load(store: Store, lease_id: str, p: Principal) -> LeaseRow:
    """The lease's row if ``p`` may see it; 404 otherwise (another tenant's lease is as if absent)."""
    with store.session() as s:
        row = s.get(LeaseRow, int(lease_id))
    if row is None or (not p.admin and row.tenant != p.tenant):
        raise Refused(f"no lease {lease_id}", ErrorKind.NOT_FOUND)
    return row


@router.post("/v1/leases", status_code=201, response_model=LeaseOut, responses=WITH_BODY, tags=["leases"])
async def create_lease(body: LeaseCreate, p: Who, ctx: Ctx,
                       idempotency_key: Annotated[str | None, Header(
                           max_length=idempotency.MAX_KEY, pattern=r"^[ -~]+$",
                           description="makes a retry safe: the same key and body answer the first request's lease"
                       )] = None) -> Any:
    """Request a lease. 201 when granted or queued; 409 with the reason when refused."""
    if body.type in (LeaseKind.AR, LeaseKind.DEADLINE) and body.start is None:
        raise invalid(("start",), f"a {body.type.value} lease needs a start time")
    if body.type is LeaseKind.DEADLINE:
        if body.deadline is None:
            raise invalid(("deadline",), "a deadline lease needs a deadline")
        if body.deadline.timestamp() < body.start.timestamp() + body.duration:
            raise invalid(("deadline",), "the deadline is before start + duration")
    if body.tenant is not None and not p.admin and body.tenant != p.tenant:
        raise invalid(("tenant",), "only admin tokens may set another tenant")
    nodes = body.nodes or [{"cpu": body.cpu, "memory": body.memory} for _ in range(body.n_nodes)]
    try:
        check_nodes(nodes, ctx.service.bounds)
        check_resources(nodes, ctx.service.resource_types())
    except UnknownResource as e:
        raise unknown_resource(e) from None
    except OutOfBounds as e:  # n_nodes x (cpu, memory): the field the body gave
        raise invalid(e.loc if body.nodes else (e.loc[-1],), e.msg) from None
    args = {
        "type": CORE_TYPE[body.type], "duration": body.duration, "nodes": nodes,
        "start": body.start.timestamp() if body.start else None,
        "deadline": body.deadline.timestamp() if body.deadline and body.type is LeaseKind.DEADLINE else None,
        "preemptible": body.preemptible, "name": body.name,
        "image": DiskImage(body.image.id, body.image.size_mb) if body.image else None,
        "tenant": p.tenant if not p.admin else body.tenant,
    }
    if idempotency_key is not None:
        args["idempotency"] = idempotency.Key(idempotency.scope(p.tenant, p.admin, p.name), idempotency_key,
                                              idempotency.body_hash([body.model_dump(mode="json"), args["tenant"]]))
    view = await ctx.decision(ctx.service.submit(**args))
    if view["state"] == "rejected":
        return JSONResponse({"detail": f"refused: {view['reason']}", "lease": view}, status_code=409)
    return view


@router.get("/v1/leases", response_model=list[LeaseOut], responses=REFUSALS, tags=["leases"])
def list_leases(p: Who, ctx: Ctx, state: Annotated[list[str] | None, Query(max_length=20)] = None,
                type: LeaseKind | None = None, tenant: Annotated[str | None, Query(max_length=128)] = None,
                limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                offset: Annotated[int, Query(ge=0, le=10**9)] = 0) -> Any:
    """Leases, oldest first, filtered by state(s), type and (admins) tenant."""
    q = select(LeaseRow).order_by(LeaseRow.seq)
    if state:
        q = q.where(LeaseRow.state.in_(state))
    if type is not None:
        q = q.where(LeaseRow.type == CORE_TYPE[type])
    if not p.admin:
        q = q.where(LeaseRow.tenant == p.tenant)
    elif tenant is not None:
        q = q.where(LeaseRow.tenant == tenant)
    with ctx.store.session() as s:
        rows = list(s.scalars(q.offset(offset).limit(limit)))
    return [lease_out(r) for r in rows]


@router.get("/v1/leases/{lease_id}", response_model=LeaseOut, responses=REFUSALS, tags=["leases"])
def get_lease(lease_id: LeaseId, p: Who, ctx: Ctx) -> Any:
    return lease_out(load(ctx.store, lease_id, p))


@router.delete("/v1/leases/{lease_id}", response_model=LeaseOut, responses=REFUSALS, tags=["leases"])
async def cancel_lease(lease_id: LeaseId, p: Who, ctx: Ctx) -> Any:
    """Cancel a lease (its VMs are destroyed). 409 when it is already over."""
    row = await asyncio.to_thread(load, ctx.store, lease_id, p)
    if row.state in FINAL_STATES:
        raise Refused(f"lease {lease_id} is already {row.state}")
    await ctx.decision(ctx.service.cancel(lease_id))
    return lease_out(await asyncio.to_thread(load, ctx.store, lease_id, p))


@router.patch("/v1/leases/{lease_id}", response_model=LeaseOut, responses=WITH_BODY, tags=["leases"])
async def update_lease(lease_id: LeaseId, body: LeaseUpdate, p: Who, ctx: Ctx) -> Any:
    """Extend or shorten an advance reservation, or end it now (as OpenStack Blazar allows)."""
    given = [k for k in ("end", "extend_by", "shorten_by", "end_now") if getattr(body, k) not in (None, False)]
    if len(given) != 1:
        raise invalid(tuple(given[1:2]) or ("end",), "give exactly one of end, extend_by, shorten_by, end_now")
    row = await asyncio.to_thread(load, ctx.store, lease_id, p)
    if row.type != "ar":
        raise Refused("only advance reservations can be updated")
    if row.state in FINAL_STATES or row.end is None:
        raise Refused(f"lease {lease_id} is {row.state}")
    now = time.time()
    end = {"end": lambda: body.end.timestamp(), "extend_by": lambda: row.end + body.extend_by,
           "shorten_by": lambda: row.end - body.shorten_by, "end_now": lambda: now}[given[0]]()
    await ctx.decision(ctx.service.change_end(lease_id, max(end, now)))
    return lease_out(await asyncio.to_thread(load, ctx.store, lease_id, p))


@router.get("/v1/leases/{lease_id}/events", response_model=list[EventOut], responses=REFUSALS, tags=["leases"])
def lease_events(lease_id: LeaseId, p: Who, ctx: Ctx) -> Any:
    """The lease's append-only history of transitions."""
    load(ctx.store, lease_id, p)
    with ctx.store.session() as s:
        rows = list(s.scalars(select(LeaseEventRow).where(LeaseEventRow.lease_seq == int(lease_id))
                              .order_by(LeaseEventRow.id)))
    return [event_out(r) for r in rows]


@router.get("/v1/queue", response_model=list[QueueEntry], responses=REFUSALS, tags=["leases"])
def queue(p: Who, ctx: Ctx) -> Any:
    """Leases waiting: queued, or holding a reservation that has not started, in submit order."""
    q = select(LeaseRow).where(LeaseRow.state.in_(WAITING)).order_by(LeaseRow.submitted, LeaseRow.seq)
    if not p.admin:
        q = q.where(LeaseRow.tenant == p.tenant)
    with ctx.store.session() as s:
        rows = list(s.scalars(q.limit(10000)))
    return [{"position": i + 1, "lease": lease_out(r)} for i, r in enumerate(rows)]
