"""Lease rows as the API shows them (shared by the API and the scheduler loop)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Mapping

API_TYPE = {"ar": "ar", "be": "best_effort", "im": "immediate", "deadline": "deadline"}


def ts(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, timezone.utc).isoformat()


def _phases(ps: list[dict]) -> list[dict]:
    return [{"activity": p["activity"], "start": ts(p["start"]), "end": ts(p["end"]), "hosts": p["hosts"]} for p in ps]


def lease_view(r: Mapping[str, Any]) -> dict[str, Any]:
    """``r``: a leases row as a mapping (seq, tenant, name, type, request, submitted, state, reason, core, start, end)."""
    req = r["request"]
    core = r.get("core") or {}
    return {
        "id": str(r["seq"]),
        "name": r.get("name"),
        "tenant": r.get("tenant"),
        "type": API_TYPE[r["type"]],
        "state": r["state"],
        "reason": r.get("reason") or "",
        "submitted": ts(r["submitted"]),
        "start": ts(r.get("start")),
        "end": ts(r.get("end")),
        "requested_start": ts(req.get("start")),
        "deadline": ts(req.get("deadline")),
        "duration": req["duration"],
        "nodes": req["nodes"],
        "preemptible": req.get("preemptible", True),
        "image": req.get("image"),
        "hosts": core.get("hosts") or [],
        "plan": _phases(core.get("phases", [])),
        "history": _phases(core.get("history", [])),
    }


def row_mapping(row: Any) -> dict[str, Any]:
    return {k: getattr(row, k) for k in ("seq", "tenant", "name", "type", "request", "submitted", "state", "reason",
                                         "core", "start", "end")}
