"""The REST API's factory (FastAPI; OpenAPI at /docs and /openapi.json): the lifespan that starts and stops the
service, and the routers mounted on it. The endpoints live in one router module per resource (``leases``,
``schedule``, ``hosts``, ``events``, ``health``); who may call them is in ``auth``.
"""
from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from galerna.api import deployment, events, health, hosts, leases, plan, schedule, whoami
from galerna.api.auth import TokenCache
from galerna.api.bodygate import BodyGate
from galerna.api.bridge import DecisionBridge
from galerna.api.context import ApiContext
from galerna.api.echo import validation_refused
from galerna.api.errors import refused
from galerna.api.internal import InternalErrors
from galerna.api.middleware import RefuseNul
from galerna.api.startup import ACTIVE_URL, NotReady, Startup
from galerna.api.streams import StreamRegistry
from galerna.api.validation import body_unparsed
from galerna.daemon.service import Refused, Service
from galerna.daemon.settings import Settings
from galerna.store.db import Store
from galerna.store.probe import CommitProbe

log = logging.getLogger("galerna.api")

# Mounted in this order (it is the order of the OpenAPI document); a new resource adds its router here.
ROUTERS: list[APIRouter] = [leases.router, schedule.router, hosts.router, events.router, health.router, plan.router,
                            whoami.router, deployment.router]


def create_app(settings: Settings | None = None, store: Store | None = None, service: Service | None = None,
               startup: Startup | None = None) -> FastAPI:
    """The app. ``store`` and ``service`` default to ones built from ``settings`` when the app starts. ``startup``
    (``galerna serve`` gives one) holds the database's lock and may bring the daemon up in the background, behind
    a port already listening; without it the lifespan brings the daemon up before the app serves."""
    settings = settings or Settings()
    startup = startup or Startup(settings)

    async def bring_up(app: FastAPI) -> None:
        own = startup.ownership
        if own is not None and not own.held:
            if not startup.standby:
                own.acquire()  # raises DatabaseOwned, naming the holder
            else:
                await asyncio.to_thread(startup.wait_for_lock)
            startup.phase = "starting"
        st = store or Store(settings.daemon.db, sqlite_synchronous=settings.daemon.sqlite_synchronous)
        if startup.advertise:
            await asyncio.to_thread(st.set_meta, ACTIVE_URL, startup.advertise)
        svc = service or Service(st, settings)
        if own is not None:
            svc.fence.add(lambda: own.lost)
        app.state.parts = (st, svc)
        await asyncio.to_thread(svc.start)
        app.state.probe = CommitProbe(st)
        app.state.galerna = ApiContext(settings, st, svc, DecisionBridge(asyncio.get_running_loop()),
                                       TokenCache(st.principal))
        app.state.streams = StreamRegistry(settings.config.api, app.state.galerna.tokens, svc.broker,
                                           asyncio.get_running_loop())
        startup.phase = "active"
        log.info("serving", extra={"role": "active"})

    async def in_background(app: FastAPI) -> None:
        try:
            await bring_up(app)
        except asyncio.CancelledError:
            pass
        except Exception as e:  # noqa: BLE001 - said in the log and on /v1/health, then the process exits
            startup.phase, startup.failed = "failed", str(e)
            log.exception("start-up failed")
            if startup.on_failure is not None:
                startup.on_failure()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.startup = startup
        task = asyncio.create_task(in_background(app)) if startup.background else None
        if task is None:
            await bring_up(app)
        try:
            yield
        finally:
            startup.stop.set()
            if task is not None:
                await task
            parts = getattr(app.state, "parts", None)
            if parts is not None:
                await asyncio.to_thread(parts[1].stop)
            if startup.ownership is not None:
                startup.ownership.release()
            log.info("api stopped")

    app = FastAPI(title="Galerna", version="1", lifespan=lifespan,
                  description="Lease-based VM scheduler: advance reservations, best-effort, immediate and deadline "
                              "leases on a cluster of hypervisors.")
    app.add_middleware(InternalErrors)  # added first: innermost, so an unexpected exception stops here
    app.add_middleware(RefuseNul)
    app.add_middleware(BodyGate, max_body_bytes=settings.config.api.max_body_bytes,  # before any body is read
                       xmlrpc_path=settings.daemon.xmlrpc_path if settings.daemon.xmlrpc else None)
    app.add_middleware(NotReady, startup=startup)  # added last, it runs first: no token check before start-up is done
    app.add_exception_handler(Refused, refused)
    app.add_exception_handler(RequestValidationError, validation_refused)
    app.add_exception_handler(HTTPException, body_unparsed)
    for router in ROUTERS:
        app.include_router(router)
    if settings.daemon.xmlrpc:
        from galerna.api.xmlrpc import mount

        mount(app, settings.daemon.xmlrpc_path)
    from galerna.console.mount import mount_console

    mount_console(app)  # last: the console's static files at / must not shadow the API
    return app
