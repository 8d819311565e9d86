"""``/v1/deployment``: this database's deployment id, whether it was new at start-up, and the foreign VMs found on
the hosts (other deployments', or unstamped ones it does not know). They are never touched unless an admin names
them in ``POST /v1/deployment/destroy-foreign`` (``galerna deployment destroy-foreign``)."""
from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from galerna.api.auth import Admin
from galerna.api.context import Ctx
from galerna.api.errors import REFUSALS, WITH_BODY

router = APIRouter(tags=["deployment"])


class ForeignVM(BaseModel):
    vm: str
    host: str | None
    deployment: str | None = Field(description="the deployment id stamped on it; null: unstamped")
    lease: str | None


class DeploymentOut(BaseModel):
    id: str | None = Field(description="this database's deployment id, stamped on every VM it creates")
    fresh: bool = Field(description="the database held no lease when the daemon started")
    foreign: list[ForeignVM] = Field(description="Galerna VMs on the hosts that are not this deployment's: left alone")


class DestroyForeign(BaseModel):
    model_config = ConfigDict(extra="forbid")
    vms: Annotated[list[Annotated[str, Field(min_length=1, max_length=256)]] | None, Field(max_length=10000)] = Field(
        None, description="the foreign VMs to destroy, by name; null: every foreign VM listed")


class Destroyed(BaseModel):
    destroyed: list[str]
    deployment: DeploymentOut


@router.get("/v1/deployment", response_model=DeploymentOut, responses=REFUSALS)
def deployment(p: Admin, ctx: Ctx) -> Any:
    return ctx.service.deployment.view(ctx.service.hosts.name)


@router.post("/v1/deployment/destroy-foreign", response_model=Destroyed, responses=WITH_BODY)
async def destroy_foreign(body: DestroyForeign, p: Admin, ctx: Ctx) -> Any:
    """The operator's explicit action: destroy the foreign VMs named (each only if it still carries the stamp it was
    listed with)."""
    done = await asyncio.to_thread(ctx.service.destroy_foreign, body.vms)
    return {"destroyed": done, "deployment": ctx.service.deployment.view(ctx.service.hosts.name)}
