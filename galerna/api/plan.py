"""``GET /v1/plan``: every phase of every lease in a time window, done and planned, one row per VM and host.

What the console's timeline draws, and what any API user can plot: ``/v1/schedule`` has only the phases still
planned, this adds the history (boot, run, suspend, resume, migrate, transfer, shutdown as they happened) and the
hosts with their state, so past, running and planned parts can be told apart.
"""

import time
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from sqlalchemy import or_, select

from galerna.api.auth import Who
from galerna.api.context import Ctx
from galerna.api.errors import REFUSALS
from galerna.api.schemas import API_TYPE, LeaseKind
from galerna.daemon.views import row_mapping, ts
from galerna.store.models import HostRow, LeaseRow

# A lease's phases lie around its run: an image transfer before it, a shutdown after. A lease whose run ends more
# than this before the window (or starts more than this after it) is not read at all.
MARGIN = 2 * 86400.0
MAX_WINDOW = 400 * 86400.0


class PlanHost(BaseModel):
    name: str
    cpu: float
    memory: float
    state: str = Field(description="up, disabled or maintenance")
    health: str = Field(description="up or error (the hypervisor does not answer)")


class PlanLease(BaseModel):
    id: str
    name: str | None
    tenant: str | None
    type: LeaseKind
    state: str
    nodes: list[dict[str, float]] = Field(description="the resources of each VM")


class PlanPhase(BaseModel):
    lease: str
    activity: str = Field(description="run, boot, shutdown, suspend, resume, migrate or transfer")
    node: int = Field(description="the VM's index in the lease (for a transfer: the first VM on that host)")
    host: str
    start: datetime
    end: datetime
    part: Literal["history", "plan"] = Field(description="history: recorded as over; plan: the current phase and "
                                                        "those still planned (compare start and end with now)")
    cpu: float = Field(description="cores held (0 for a transfer)")
    memory: float = Field(description="MB held (0 for a transfer)")


class PlanOut(BaseModel):
    start: datetime
    end: datetime
    now: datetime
    hosts: list[PlanHost]
    leases: list[PlanLease]
    phases: list[PlanPhase]


def _seconds(v: datetime | None, field: str, default: float) -> float:
    if v is None:
        return default
    try:
        return (v if v.tzinfo else v.replace(tzinfo=timezone.utc)).timestamp()
    except (OverflowError, OSError, ValueError):
        raise RequestValidationError([{"loc": ("query", field), "msg": "time out of range",
                                       "type": "value_error"}]) from None


def _rows(lease_id: str, phases: list[dict], part: str, nodes: list[dict], a: float, b: float) -> list[dict]:
    out = []
    for p in phases:
        if not (p["start"] < b and p["end"] > a) or p["end"] <= p["start"] or None in (ts(p["start"]), ts(p["end"])):
            continue  # (an instant no datetime holds, stored by an older version: not shown)
        holds = p.get("holds", True) and p["activity"] != "transfer"
        hosts = p["hosts"]
        if p["activity"] == "transfer":
            placed = list(dict.fromkeys(hosts))
            pairs = [(0, h) for h in placed]
        else:
            pairs = list(enumerate(hosts))
        for node, h in pairs:
            vec = nodes[node] if node < len(nodes) else {}
            out.append({"lease": lease_id, "activity": p["activity"], "node": node, "host": h, "start": ts(p["start"]),
                        "end": ts(p["end"]), "part": part, "cpu": vec.get("cpu", 0.0) if holds else 0.0,
                        "memory": vec.get("memory", 0.0) if holds else 0.0})
    return out


router = APIRouter(tags=["schedule"])


@router.get("/v1/plan", response_model=PlanOut, responses=REFUSALS)
def plan(p: Who, ctx: Ctx,
         start: Annotated[datetime | None, Query(description="window start (default: 6 hours ago)")] = None,
         end: Annotated[datetime | None, Query(description="window end (default: 24 hours from now)")] = None,
         limit: Annotated[int, Query(ge=1, le=100000, description="most leases read")] = 20000) -> Any:
    """Every phase (history and plan) of the leases you may see that overlaps [start, end), one row per VM and
    host, with the hosts and their state: the console's timeline."""
    now = time.time()
    a = _seconds(start, "start", now - 6 * 3600)
    b = _seconds(end, "end", now + 24 * 3600)
    if b <= a:
        raise RequestValidationError([{"loc": ("query", "end"), "msg": "end must be after start",
                                       "type": "value_error"}])
    if b - a > MAX_WINDOW:
        raise RequestValidationError([{"loc": ("query", "end"), "msg": "the window is longer than 400 days",
                                       "type": "value_error"}])
    q = select(LeaseRow).where(LeaseRow.state != "rejected", LeaseRow.start.is_not(None),
                               LeaseRow.start < b + MARGIN,
                               or_(LeaseRow.end.is_(None), LeaseRow.end > a - MARGIN)).order_by(LeaseRow.seq)
    if not p.admin:
        q = q.where(LeaseRow.tenant == p.tenant)
    with ctx.store.session() as s:
        hosts = [{"name": r.name, "cpu": r.cpu, "memory": r.memory, "state": r.admin_state, "health": r.health}
                 for r in s.scalars(select(HostRow).order_by(HostRow.position, HostRow.name))]
        rows = list(s.scalars(q.limit(limit)))
    leases, phases = [], []
    for r in rows:
        snapshot, nodes = row_mapping(r)["core"] or {}, r.request["nodes"]
        got = _rows(str(r.seq), snapshot.get("history", []), "history", nodes, a, b) + \
            _rows(str(r.seq), snapshot.get("phases", []), "plan", nodes, a, b)
        if got:
            phases += got
            leases.append({"id": str(r.seq), "name": r.name, "tenant": r.tenant, "type": API_TYPE[r.type],
                           "state": r.state, "nodes": nodes})
    return {"start": ts(a), "end": ts(b), "now": ts(now), "hosts": hosts, "leases": leases, "phases": phases}
