"""``galerna view OUT_DIR``: the console's timeline, read-only, on a simulation output directory.

A small FastAPI app on loopback: the page, its static modules, and read-only data endpoints over the directory (read
once at start-up, so a malformed file fails the command with its file and line rather than the page). The allocations
go out as binary typed-array columns: 50,000 of them are 1.4 MB the page uses as they come, where JSON was 3 MB to parse.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response

from galerna.console.assets import static_router
from galerna.console.outdir import LAYOUT, allocation_columns, read_output


def create_view_app(out: Path) -> FastAPI:
    run = read_output(out)
    cols, leases = run.pop("allocations"), run.pop("leases")
    n = len(cols["host"])
    # what the first paint needs: hosts, each lease's id and type, the allocations' layout (the numbers come binary)
    types = sorted(set(leases["type"]))
    summary = {**run, "leases": {"lease_id": leases["lease_id"], "types": types,
                                 "type": [types.index(t) for t in leases["type"]]},
               "allocations": {"count": n, "layout": [[name, js] for name, _, js in LAYOUT]}}
    summary_json = json.dumps(summary, separators=(",", ":")).encode()
    columns = allocation_columns(cols)
    leases_json = json.dumps(leases, separators=(",", ":")).encode()
    app = FastAPI(title="Galerna view", version="1", docs_url=None, redoc_url=None)

    @app.get("/v1/view/data", tags=["view"])
    def view_data() -> Any:
        """The run: its name, hosts, each lease's id and type (an index in ``types``), the allocations' layout."""
        return Response(summary_json, media_type="application/json")

    @app.get("/v1/view/allocations", tags=["view"])
    def view_allocations() -> Any:
        """The allocations as little-endian typed-array columns, in the order /v1/view/data's layout gives."""
        return Response(columns, media_type="application/octet-stream")

    @app.get("/v1/view/leases", tags=["view"])
    def view_leases() -> Any:
        """Every lease as in leases.csv, as columns (for the details; the page reads it after its first paint)."""
        return Response(leases_json, media_type="application/json")

    app.include_router(static_router("view.html"))
    return app
