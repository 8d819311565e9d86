"""``galerna view OUT_DIR``: the console's timeline, read-only, on a simulation output directory.

A small FastAPI app on loopback: the page, its static modules, and one read-only data endpoint over the directory
(read once at start-up, so a malformed file fails the command with its file and line rather than the page).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response

from galerna.console.assets import static_router
from galerna.console.outdir import read_output


def create_view_app(out: Path) -> FastAPI:
    data = json.dumps(read_output(out), separators=(",", ":")).encode()
    app = FastAPI(title="Galerna view", version="1", docs_url=None, redoc_url=None)

    @app.get("/v1/view/data", tags=["view"])
    def view_data() -> Any:
        """The output directory: hosts, leases (as in leases.csv) and allocations as columns."""
        return Response(data, media_type="application/json")

    app.include_router(static_router("view.html"))
    return app
