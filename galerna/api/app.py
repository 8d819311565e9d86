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
from galerna.api.streams import StreamRegistry
from galerna.api.validation import body_unparsed
from galerna.daemon.service import Refused, Service
from galerna.daemon.settings import Settings
from galerna.store.db import Store

log = logging.getLogger("galerna.api")

# Mounted in this order (it is the order of the OpenAPI document); a new resource adds its router here.
ROUTERS: list[APIRouter] = [leases.router, schedule.router, hosts.router, events.router, health.router, plan.router,
                            whoami.router, deployment.router]


def create_app(settings: Settings | None = None, store: Store | None = None, service: Service | None = None) -> FastAPI:
    """The app. ``store`` and ``service`` default to ones built from ``settings`` when the app starts."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        st = store or Store(settings.daemon.db, sqlite_synchronous=settings.daemon.sqlite_synchronous)
        svc = service or Service(st, settings)
        await asyncio.to_thread(svc.start)
        app.state.galerna = ApiContext(settings, st, svc, DecisionBridge(asyncio.get_running_loop()),
                                       TokenCache(st.principal))
        app.state.streams = StreamRegistry(settings.config.api, app.state.galerna.tokens, svc.broker,
                                           asyncio.get_running_loop())
        try:
            yield
        finally:
            await asyncio.to_thread(svc.stop)
            log.info("api stopped")

    app = FastAPI(title="Galerna", version="1", lifespan=lifespan,
                  description="Lease-based VM scheduler: advance reservations, best-effort, immediate and deadline "
                              "leases on a cluster of hypervisors.")
    app.add_middleware(InternalErrors)  # added first: innermost, so an unexpected exception stops here
    app.add_middleware(RefuseNul)
    app.add_middleware(BodyGate, max_body_bytes=settings.config.api.max_body_bytes,  # outermost: before any body
                       xmlrpc_path=settings.daemon.xmlrpc_path if settings.daemon.xmlrpc else None)
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
