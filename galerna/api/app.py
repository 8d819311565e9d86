"""The REST API (FastAPI; OpenAPI at /docs and /openapi.json).

Every call but ``GET /v1/health`` needs ``Authorization: Bearer <token>``. A
tenant token sees and changes only its tenant's leases; an admin token sees
all and manages hosts. Another tenant's lease answers 404, as if absent.

``POST /v1/leases`` answers only after the request *and* the scheduler's
decision are committed: 201 with the lease (``scheduled``, ``queued``,
``active``…) or 409 with the reason when it cannot be granted (an AR that
does not fit, an immediate lease with no room now). The refused lease is kept,
in state ``rejected``.
"""


import asyncio
import json
import logging
import threading
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, AsyncIterator

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import or_, select

from galerna.api.schemas import (
    CORE_TYPE,
    EventOut,
    Health,
    HostCreate,
    HostOut,
    LeaseCreate,
    LeaseKind,
    LeaseOut,
    LeaseUpdate,
    QueueEntry,
    Refusal,
    ReservationOut,
)
from galerna.api.plan import plan_router
from galerna.api.whoami import whoami_router
from galerna.console.mount import mount_console
from galerna.daemon.service import Refused, Service
from galerna.daemon.settings import Settings
from galerna.daemon.views import lease_view, row_mapping, ts
from galerna.store.db import Store
from galerna.store.models import HostRow, LeaseEventRow, LeaseRow, ReservationRow

log = logging.getLogger("galerna.api")
LeaseId = Annotated[str, Path(pattern=r"^[0-9]{1,18}$", description="lease id")]
HostName = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")]


class DecisionBridge:
    """Hands the scheduler thread's decisions to the event loop with one wake-up per
    batch of them, not one per request (``asyncio.wrap_future`` pays a self-pipe
    write and a callback chain for every future, ~10 % of the server's CPU under a
    burst of submissions)."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self._lock = threading.Lock()
        self._done: list = []
        self._woken = False

    def watch(self, fut) -> asyncio.Future:  # noqa: ANN001 - a concurrent.futures.Future
        waiter = self.loop.create_future()
        fut.add_done_callback(lambda f: self._arrived(waiter, f))
        return waiter

    def _arrived(self, waiter: asyncio.Future, fut) -> None:  # noqa: ANN001
        with self._lock:
            self._done.append((waiter, fut))
            if self._woken:
                return
            self._woken = True
        self.loop.call_soon_threadsafe(self._hand_over)

    def _hand_over(self) -> None:
        with self._lock:
            done, self._done, self._woken = self._done, [], False
        for waiter, fut in done:
            if waiter.done():  # its request timed out
                continue
            e = fut.exception()
            if e is None:
                waiter.set_result(fut.result())
            else:
                waiter.set_exception(e)


@dataclass(frozen=True)
class Principal:
    name: str
    tenant: str | None
    admin: bool


def _invalid(loc: tuple, msg: str, value: Any = None) -> RequestValidationError:
    return RequestValidationError([{"loc": ("body",) + loc, "msg": msg, "type": "value_error", "input": value}])


REFUSALS = {409: {"model": Refusal, "description": "refused, with the reason"},
            404: {"model": Refusal, "description": "no such lease (or not yours)"},
            401: {"model": Refusal, "description": "missing or unknown token"},
            403: {"model": Refusal, "description": "not allowed for this token"},
            503: {"model": Refusal, "description": "the daemon is stopping or busy"}}


def _nul_refusal(loc: list[str]) -> JSONResponse:
    return JSONResponse(status_code=422, content={"detail": [
        {"loc": loc, "msg": "must not contain NUL characters", "type": "value_error"}]})


def create_app(settings: Settings | None = None, store: Store | None = None, service: Service | None = None) -> FastAPI:
    settings = settings or Settings()
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        st = store or Store(settings.daemon.db, sqlite_synchronous=settings.daemon.sqlite_synchronous)
        svc = service or Service(st, settings)
        await asyncio.to_thread(svc.start)
        state["store"], state["service"] = st, svc
        state["bridge"] = DecisionBridge(asyncio.get_running_loop())
        app.state.service = svc
        try:
            yield
        finally:
            await asyncio.to_thread(svc.stop)
            log.info("api stopped")

    app = FastAPI(title="Galerna", version="1", lifespan=lifespan,
                  description="Lease-based VM scheduler: advance reservations, best-effort, immediate and deadline "
                              "leases on a cluster of hypervisors.")
    bearer = HTTPBearer(auto_error=False)
    cache: dict[str, tuple[float, Principal | None]] = {}

    class RefuseNul:
        """No text in Galerna may hold a NUL character (PostgreSQL cannot store one): refuse it at the door,
        naming the field, for every endpoint alike. A plain ASGI middleware (Starlette's ``BaseHTTPMiddleware``
        costs a task group and a response stream per request); a body it has read is handed on unchanged."""

        def __init__(self, app):
            self.app = app

        async def __call__(self, scope, receive, send):
            if scope["type"] != "http":
                return await self.app(scope, receive, send)
            request = Request(scope)
            for key, value in request.query_params.multi_items():
                if "\x00" in key or "\x00" in value:
                    return await _nul_refusal(["query", key.replace("\x00", "\\0")])(scope, receive, send)
            if "\x00" in request.url.path:
                return await _nul_refusal(["path"])(scope, receive, send)
            if scope["method"] in ("POST", "PUT", "PATCH"):
                messages, body = [], b""
                while True:
                    msg = await receive()
                    messages.append(msg)
                    if msg["type"] != "http.request":
                        break
                    body += msg.get("body", b"")
                    if not msg.get("more_body", False):
                        break
                if b"\x00" in body or b"\\u0000" in body:
                    return await _nul_refusal(["body"])(scope, receive, send)
                replay = iter(messages)

                async def receive_again():
                    return next(replay, None) or await receive()

                return await self.app(scope, receive_again, send)
            return await self.app(scope, receive, send)

    app.add_middleware(RefuseNul)

    def get_store() -> Store:
        return state["store"]

    def get_service() -> Service:
        return state["service"]

    def cached(tok: str) -> tuple[float, Principal | None] | None:
        hit = cache.get(tok)
        return hit if hit is not None and hit[0] >= time.monotonic() else None

    def lookup(tok: str) -> Principal | None:
        hit = cached(tok)
        if hit is None:
            row = get_store().principal(tok)
            p = None if row is None else Principal(row.name, row.tenant, row.admin)
            if len(cache) > 10000:
                cache.clear()
            cache[tok] = hit = (time.monotonic() + 2.0, p)  # a revoked token stops working within 2 s
        return hit[1]

    async def principal(cred: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Principal:
        # async: a sync dependency would cost a thread-pool hand-off on every request; the database is read
        # (in a thread) only when the token is not in the 2-second cache.
        if cred is None or not cred.credentials:
            raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
        hit = cached(cred.credentials)
        p = hit[1] if hit is not None else await asyncio.to_thread(lookup, cred.credentials)
        if p is None:
            raise HTTPException(401, "unknown or revoked token", headers={"WWW-Authenticate": "Bearer"})
        return p

    Who = Annotated[Principal, Depends(principal)]

    async def admin(p: Who) -> Principal:
        if not p.admin:
            raise HTTPException(403, "admin token needed")
        return p

    Admin = Annotated[Principal, Depends(admin)]

    @app.exception_handler(Refused)
    async def _refused(request: Request, e: Refused) -> JSONResponse:
        return JSONResponse({"detail": e.reason, "lease": e.lease}, status_code=e.status)

    async def wait(fut) -> Any:
        try:
            async with asyncio.timeout(settings.daemon.decision_timeout):
                return await state["bridge"].watch(fut)
        except TimeoutError:
            raise Refused("the scheduler did not answer in time; the request may still be carried out", 503) from None

    def load(lease_id: str, p: Principal) -> LeaseRow:
        with get_store().session() as s:
            row = s.get(LeaseRow, int(lease_id))
        if row is None or (not p.admin and row.tenant != p.tenant):
            raise Refused(f"no lease {lease_id}", 404)
        return row

    # ------------------------------------------------------------ leases
    @app.post("/v1/leases", status_code=201, response_model=LeaseOut, responses=REFUSALS, tags=["leases"])
    async def create_lease(body: LeaseCreate, p: Who) -> Any:
        """Request a lease. 201 when granted or queued; 409 with the reason when refused."""
        svc = get_service()
        if body.type in (LeaseKind.AR, LeaseKind.DEADLINE) and body.start is None:
            raise _invalid(("start",), f"a {body.type.value} lease needs a start time")
        if body.type is LeaseKind.DEADLINE:
            if body.deadline is None:
                raise _invalid(("deadline",), "a deadline lease needs a deadline")
            if body.deadline.timestamp() < body.start.timestamp() + body.duration:
                raise _invalid(("deadline",), "the deadline is before start + duration")
        if body.tenant is not None and not p.admin and body.tenant != p.tenant:
            raise _invalid(("tenant",), "only admin tokens may set another tenant")
        nodes = body.nodes or [{"cpu": body.cpu, "memory": body.memory} for _ in range(body.n_nodes)]
        known = svc.core.site.resource_types
        for i, n in enumerate(nodes):
            for k in n:
                if k not in known:
                    raise _invalid(("nodes", i, k), f"resource {k} is not provided by any host "
                                                    f"(known: {', '.join(known)})")
        from galerna.model.lease import DiskImage

        args = {
            "type": CORE_TYPE[body.type], "duration": body.duration, "nodes": nodes,
            "start": body.start.timestamp() if body.start else None,
            "deadline": body.deadline.timestamp() if body.deadline and body.type is LeaseKind.DEADLINE else None,
            "preemptible": body.preemptible, "name": body.name,
            "image": DiskImage(body.image.id, body.image.size_mb) if body.image else None,
            "tenant": p.tenant if not p.admin else body.tenant,
        }
        view = await wait(svc.call("submit", **args))
        if view["state"] == "rejected":
            return JSONResponse({"detail": f"refused: {view['reason']}", "lease": view}, status_code=409)
        return view

    @app.get("/v1/leases", response_model=list[LeaseOut], responses=REFUSALS, tags=["leases"])
    def list_leases(p: Who, state: Annotated[list[str] | None, Query(max_length=20)] = None,
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
        with get_store().session() as s:
            rows = list(s.scalars(q.offset(offset).limit(limit)))
        return [lease_view(row_mapping(r)) for r in rows]

    @app.get("/v1/leases/{lease_id}", response_model=LeaseOut, responses=REFUSALS, tags=["leases"])
    def get_lease(lease_id: LeaseId, p: Who) -> Any:
        return lease_view(row_mapping(load(lease_id, p)))

    @app.delete("/v1/leases/{lease_id}", response_model=LeaseOut, responses=REFUSALS, tags=["leases"])
    async def cancel_lease(lease_id: LeaseId, p: Who) -> Any:
        """Cancel a lease (its VMs are destroyed). 409 when it is already over."""
        row = await asyncio.to_thread(load, lease_id, p)
        if row.state in ("done", "cancelled", "failed", "rejected"):
            raise Refused(f"lease {lease_id} is already {row.state}")
        await wait(get_service().call("cancel", lease_id=lease_id))
        return lease_view(row_mapping(await asyncio.to_thread(load, lease_id, p)))

    @app.patch("/v1/leases/{lease_id}", response_model=LeaseOut, responses=REFUSALS, tags=["leases"])
    async def update_lease(lease_id: LeaseId, body: LeaseUpdate, p: Who) -> Any:
        """Extend or shorten an advance reservation, or end it now (as OpenStack Blazar allows)."""
        given = [k for k in ("end", "extend_by", "shorten_by", "end_now") if getattr(body, k) not in (None, False)]
        if len(given) != 1:
            raise _invalid(tuple(given[1:2]) or ("end",), "give exactly one of end, extend_by, shorten_by, end_now")
        row = await asyncio.to_thread(load, lease_id, p)
        if row.type != "ar":
            raise Refused("only advance reservations can be updated")
        if row.state in ("done", "cancelled", "failed", "rejected") or row.end is None:
            raise Refused(f"lease {lease_id} is {row.state}")
        now = time.time()
        end = {"end": lambda: body.end.timestamp(), "extend_by": lambda: row.end + body.extend_by,
               "shorten_by": lambda: row.end - body.shorten_by, "end_now": lambda: now}[given[0]]()
        await wait(get_service().call("end", lease_id=lease_id, end=max(end, now)))
        return lease_view(row_mapping(await asyncio.to_thread(load, lease_id, p)))

    @app.get("/v1/leases/{lease_id}/events", response_model=list[EventOut], responses=REFUSALS, tags=["leases"])
    def lease_events(lease_id: LeaseId, p: Who) -> Any:
        """The lease's append-only history of transitions."""
        load(lease_id, p)
        with get_store().session() as s:
            rows = list(s.scalars(select(LeaseEventRow).where(LeaseEventRow.lease_seq == int(lease_id))
                                  .order_by(LeaseEventRow.id)))
        return [{"time": ts(r.time), "kind": r.kind, "detail": r.detail, "state": r.state, "hosts": r.hosts}
                for r in rows]

    @app.get("/v1/queue", response_model=list[QueueEntry], responses=REFUSALS, tags=["leases"])
    def queue(p: Who) -> Any:
        """Leases waiting: queued, or holding a reservation that has not started, in submit order."""
        q = select(LeaseRow).where(LeaseRow.state.in_(["pending", "queued", "scheduled", "suspended-queued",
                                                       "suspended-scheduled"])).order_by(LeaseRow.submitted,
                                                                                          LeaseRow.seq)
        if not p.admin:
            q = q.where(LeaseRow.tenant == p.tenant)
        with get_store().session() as s:
            rows = list(s.scalars(q.limit(10000)))
        return [{"position": i + 1, "lease": lease_view(row_mapping(r))} for i, r in enumerate(rows)]

    # ------------------------------------------------------------ schedule
    @app.get("/v1/schedule", response_model=list[ReservationOut], responses=REFUSALS, tags=["schedule"])
    def schedule(p: Who, start: datetime | None = None, end: datetime | None = None,
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
        with get_store().session() as s:
            rows = list(s.execute(q.limit(limit)))
        return [{"lease": str(r.lease_seq), "tenant": t, "activity": r.activity, "start": ts(r.start),
                 "end": ts(r.end), "hosts": r.hosts} for r, t in rows]

    # ------------------------------------------------------------ hosts
    def host_view(r: HostRow) -> dict:
        return {"name": r.name, "uri": r.uri, "cpu": r.cpu, "memory": r.memory, "extra": r.extra or {},
                "state": r.admin_state, "health": r.health}

    @app.get("/v1/hosts", response_model=list[HostOut], responses=REFUSALS, tags=["hosts"])
    def list_hosts(p: Who) -> Any:
        with get_store().session() as s:
            return [host_view(r) for r in s.scalars(select(HostRow).order_by(HostRow.position, HostRow.name))]

    @app.post("/v1/hosts", status_code=201, response_model=HostOut, responses=REFUSALS, tags=["hosts"])
    async def add_host(body: HostCreate, p: Admin) -> Any:
        if body.uri is None and (body.cpu is None or body.memory is None):
            raise _invalid(("cpu",), "cpu and memory are needed for a host without a hypervisor URI")
        await wait(get_service().call("host", action="add", name=body.name, uri=body.uri, cpu=body.cpu,
                                      memory=body.memory, extra=body.extra))
        return _host(body.name)

    def _host(name: str) -> dict:
        with get_store().session() as s:
            r = s.get(HostRow, name)
        if r is None:
            raise Refused(f"no host {name}", 404)
        return host_view(r)

    @app.delete("/v1/hosts/{name}", responses=REFUSALS, tags=["hosts"])
    async def remove_host(name: HostName, p: Admin) -> dict:
        """Remove a host no lease uses (409 otherwise: disable it first and let its leases end)."""
        return await wait(get_service().call("host", action="remove", name=name))

    for action in ("enable", "disable", "maintenance"):
        def make(action: str):
            async def host_action(name: HostName, p: Admin) -> Any:
                await wait(get_service().call("host", action=action, name=name))
                return _host(name)
            host_action.__name__ = f"{action}_host"
            host_action.__doc__ = {"enable": "Let the scheduler place leases on the host again.",
                                   "disable": "No new placements; leases running there keep running.",
                                   "maintenance": "Like disable, and shown as under maintenance."}[action]
            return host_action
        app.post(f"/v1/hosts/{{name}}/{action}", response_model=HostOut, responses=REFUSALS,
                 tags=["hosts"])(make(action))

    @app.get("/v1/hosts/{name}/vms", responses=REFUSALS, tags=["hosts"])
    async def host_vms(name: HostName, p: Admin) -> list[dict]:
        """What the host's hypervisor really runs now (Galerna's VMs and others)."""
        svc = get_service()
        uri = svc.uri_of.get(name)
        if uri is None or svc.executor is None:
            raise Refused(f"no hypervisor for host {name}", 404)
        inv = svc.executor.inventory
        if inv.hosts.get(uri) is not None and inv.hosts[uri].value == "error":
            # the monitor cannot see the host: what Galerna believes it runs, as unknown
            return [{"name": r.name, "state": r.observed.value, "lease": r.spec.lease_id} for r in inv.on_host(uri)]
        try:
            vms = await asyncio.to_thread(svc.executor.drivers[uri].list)
        except Exception as e:  # noqa: BLE001
            raise Refused(f"the hypervisor of host {name} does not answer: {e}", 409) from None
        return [{"name": v.name, "state": v.state.value, "lease": v.lease_id} for v in vms]

    # ------------------------------------------------------------ events
    @app.get("/v1/events", responses={200: {"content": {"text/event-stream": {}},
                                            "description": "Server-Sent Events"}, **REFUSALS}, tags=["events"])
    async def events(request: Request, p: Who,
                     once: Annotated[bool, Query(description="close after the first event (for scripts)")] = False
                     ) -> StreamingResponse:
        """Server-Sent Events: lease.started / ending_soon / ended / suspended / resumed / failed / cancelled /
        rejected / preempted and host.up / host.down. Tenants get only their own leases' events."""
        svc = get_service()
        loop = asyncio.get_running_loop()
        q: asyncio.Queue = asyncio.Queue(maxsize=10000)

        def deliver(msg: dict) -> None:
            if "lease" in msg and not p.admin and msg.get("tenant") != p.tenant:
                return
            loop.call_soon_threadsafe(_put, msg)

        def _put(msg: dict) -> None:
            if not q.full():
                q.put_nowait(msg)

        sub = svc.broker.subscribe(deliver)

        async def stream() -> AsyncIterator[bytes]:
            try:
                yield b": galerna events\n\n"
                while True:
                    try:
                        msg = await asyncio.wait_for(q.get(), 15.0)
                    except asyncio.TimeoutError:
                        yield b": keep-alive\n\n"
                        continue
                    yield f"id: {msg['id']}\nevent: {msg['event']}\ndata: {json.dumps(msg)}\n\n".encode()
                    if once:
                        return
            finally:
                svc.broker.unsubscribe(sub)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.get("/v1/health", response_model=Health, tags=["health"])
    def health() -> Any:
        svc = get_service()
        return {"status": "ok", "leases": len(svc.core.live), "hosts": len(svc.core.site),
                "database": get_store().dialect}

    app.include_router(plan_router(principal, get_store))  # GET /v1/plan (the console's timeline)
    app.include_router(whoami_router(principal))  # GET /v1/whoami
    if settings.daemon.xmlrpc:
        from galerna.api.xmlrpc import mount

        mount(app, settings.daemon.xmlrpc_path, lookup, get_service, get_store, settings.daemon.decision_timeout)
    mount_console(app)  # the web console at /
    return app
