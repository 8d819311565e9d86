"""Bringing the daemon up behind a port that is already listening: take the database's lock (a standby waits for
it), open the store, rebuild and reconcile, then serve. Until then every request but ``/v1/health`` (and the API's
own documents) answers 503, saying whether the daemon is starting or a standby, and naming the active daemon's
advertised URL (the ``Galerna-Active`` header and the ``active`` field) so that a client can go there."""
from __future__ import annotations

import asyncio
import logging
import threading
from typing import Callable

from fastapi.responses import JSONResponse

from galerna.daemon.settings import Settings
from galerna.store.ownership import Ownership
from galerna.store.probe import short_error

log = logging.getLogger("galerna.api")

#: the meta row where the active daemon writes the URL it serves (read by standbys)
ACTIVE_URL = "active_url"
OPEN_PATHS = ("/v1/health", "/openapi.json", "/docs")


class Startup:
    """The daemon's phase (``standby`` -> ``starting`` -> ``active``, or ``failed``) and what brings it up."""

    def __init__(self, settings: Settings, ownership: Ownership | None = None, *, standby: bool = False,
                 advertise: str = "", background: bool = False, on_failure: Callable[[], None] | None = None):
        self.settings, self.ownership, self.standby = settings, ownership, standby
        self.advertise, self.background, self.on_failure = advertise, background, on_failure
        self.phase = "starting" if ownership is None or ownership.held else "standby"
        self.active_url: str | None = None
        self.failed: str | None = None
        self.stop = threading.Event()
        self._said = False  # "cannot reach the database" logged once by a standby

    @property
    def ready(self) -> bool:
        return self.phase == "active"

    def wait_for_lock(self) -> None:
        """Standby: poll the lock until it is ours, noting the active daemon's URL meanwhile (blocking)."""
        from galerna.store.db import Store

        peek = None
        while not self._try():
            if self.stop.wait(0.5):
                raise asyncio.CancelledError
            try:
                peek = peek or Store(self.settings.daemon.db, run_migrations=False)
                self.active_url = peek.get_meta(ACTIVE_URL)
            except Exception:  # noqa: BLE001 - not migrated yet, or the database is down: try again
                self.active_url = None
        if peek is not None:
            peek.close()
        log.info("ownership taken", extra={"db": self.ownership.where})

    def _try(self) -> bool:
        """One attempt at the lock; a database that does not answer is tried again (and said once in the log)."""
        try:
            return self.ownership.try_acquire()
        except Exception as e:  # noqa: BLE001 - the database may come back; the active daemon may still serve
            if not self._said:
                log.warning("standby cannot reach the database", extra={"db": self.ownership.where,
                                                                          "error": short_error(e)})
                self._said = True
            return False

    def detail(self) -> str:
        """Why this daemon does not serve (yet), in words."""
        if self.phase == "standby":
            return "standby: another daemon owns the database and serves" + (
                f" at {self.active_url}" if self.active_url else "")
        if self.phase == "failed":
            return f"the daemon failed to start: {self.failed}"
        return "the daemon is starting (rebuilding from the database, reconciling the hypervisors)"

    def not_ready(self) -> JSONResponse:
        detail = self.detail()
        headers = {"Retry-After": "1"}
        if self.active_url and self.phase == "standby":
            headers["Galerna-Active"] = self.active_url
        return JSONResponse({"detail": detail, "lease": None, "active": self.active_url}, status_code=503,
                            headers=headers)


class NotReady:
    """ASGI middleware: 503 for everything but ``OPEN_PATHS`` until the start-up is done."""

    def __init__(self, app, startup: Startup):
        self.app, self.startup = app, startup

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and not self.startup.ready and not scope["path"].startswith(OPEN_PATHS):
            return await self.startup.not_ready()(scope, receive, send)
        return await self.app(scope, receive, send)
