"""``/v1/schedule``: the planned phases of every visible lease in a time window."""
from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError
from sqlalchemy import select

from galerna.api.auth import Who
from galerna.api.context import Ctx
from galerna.api.errors import REFUSALS
from galerna.api.schemas import ReservationOut
from galerna.api.views import reservation_out
from galerna.store.models import LeaseRow, ReservationRow

router = APIRouter()


@router.get("/v1/schedule", response_model=list[ReservationOut], responses=REFUSALS, tags=["schedule"])
def schedule(p: Who, ctx: Ctx, start: datetime | None = None, end: datetime | None = None,
             limit: Annotated[int, Query(ge=1, le=100000)] = 10000) -> Any:
    """Planned phases overlapping [start, end) (default: from now on), for plotting."""
    try:
        a = start.timestamp() if start else time.time()
        b = end.timestamp() if end else float("inf")
    except (OverflowError, OSError, ValueError):
        raise RequestValidationError([{"loc": ("query", "start"), "msg": "time out of range",
                                       "type": "value_error"}]) from None
    q = select(ReservationRow, LeaseRow.tenant).join(LeaseRow, LeaseRow.seq == ReservationRow.lease_seq) \
        .where(ReservationRow.end > a).order_by(ReservationRow.start, ReservationRow.id)
    if b != float("inf"):
        q = q.where(ReservationRow.start < b)
    if not p.admin:
        q = q.where(LeaseRow.tenant == p.tenant)
    with ctx.store.session() as s:
        rows = list(s.execute(q.limit(limit)))
    return [v for v in (reservation_out(r, t) for r, t in rows) if v is not None]
