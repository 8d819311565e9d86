"""``/v1/hosts``: the hosts (anyone may list them; admins add, remove, enable, disable and inspect them)."""
from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Path
from sqlalchemy import select

from galerna.api.auth import Admin, Who
from galerna.api.context import ApiContext, Ctx
from galerna.api.errors import REFUSALS, WITH_BODY, invalid
from galerna.api.schemas import HostCreate, HostOut
from galerna.api.views import host_out, vm_out
from galerna.daemon.errors import ErrorKind, Refused
from galerna.store.models import HostRow

router = APIRouter()
HostName = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")]
ACTIONS = {"enable": "Let the scheduler place leases on the host again.",
           "disable": "No new placements; leases running there keep running.",
           "maintenance": "Like disable, and shown as under maintenance."}


def _host(ctx: ApiContext, name: str) -> dict:
    with ctx.store.session() as s:
        r = s.get(HostRow, name)
    if r is None:
        raise Refused(f"no host {name}", ErrorKind.NOT_FOUND)
    return host_out(r)


@router.get("/v1/hosts", response_model=list[HostOut], responses=REFUSALS, tags=["hosts"])
def list_hosts(p: Who, ctx: Ctx) -> Any:
    with ctx.store.session() as s:
        return [host_out(r) for r in s.scalars(select(HostRow).order_by(HostRow.position, HostRow.name))]


@router.post("/v1/hosts", status_code=201, response_model=HostOut, responses=WITH_BODY, tags=["hosts"])
async def add_host(body: HostCreate, p: Admin, ctx: Ctx) -> Any:
    if body.uri is None and (body.cpu is None or body.memory is None):
        raise invalid(("cpu",), "cpu and memory are needed for a host without a hypervisor URI")
    await ctx.decision(ctx.service.change_host("add", body.name, uri=body.uri, cpu=body.cpu,
                                               memory=body.memory, extra=body.extra))
    return _host(ctx, body.name)


@router.delete("/v1/hosts/{name}", responses=REFUSALS, tags=["hosts"])
async def remove_host(name: HostName, p: Admin, ctx: Ctx) -> dict:
    """Remove a host no lease uses (409 otherwise: disable it first and let its leases end)."""
    return await ctx.decision(ctx.service.change_host("remove", name))


def _host_action(action: str):
    async def host_action(name: HostName, p: Admin, ctx: Ctx) -> Any:
        await ctx.decision(ctx.service.change_host(action, name))
        return _host(ctx, name)

    host_action.__name__ = f"{action}_host"
    host_action.__doc__ = ACTIONS[action]
    return host_action


for _action in ACTIONS:
    router.post(f"/v1/hosts/{{name}}/{_action}", response_model=HostOut, responses=REFUSALS,
                tags=["hosts"])(_host_action(_action))


@router.get("/v1/hosts/{name}/vms", responses=REFUSALS, tags=["hosts"])
async def host_vms(name: HostName, p: Admin, ctx: Ctx) -> list[dict]:
    """What the host's hypervisor really runs now (Galerna's VMs and others)."""
    return [vm_out(v) for v in await asyncio.to_thread(ctx.service.host_vms, name)]
