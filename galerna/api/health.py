"""``/v1/health``: is the daemon up (no token needed: for load balancers and start-up scripts)."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from galerna.api.context import Ctx
from galerna.api.schemas import Health

router = APIRouter()


@router.get("/v1/health", response_model=Health, tags=["health"])
def health(ctx: Ctx) -> Any:
    leases, hosts = ctx.service.counts()
    return {"status": "ok", "leases": leases, "hosts": hosts, "database": ctx.store.dialect}
