"""Serves the console at ``/`` of the daemon's API app (same port, no second server)."""
from __future__ import annotations

import logging

from fastapi import FastAPI

from galerna.console.assets import MISSING, static_router, vendor_missing

log = logging.getLogger("galerna.console")


def mount_console(app: FastAPI) -> None:
    if vendor_missing():
        log.warning(MISSING)
    app.include_router(static_router("index.html"))
