"""Lease rows as the API shows them (shared by the API and the scheduler loop).

A view is built from whatever the database holds, so it must not fail on a value the current inlets would refuse
(a row written by an older version, or by hand): an instant no ``datetime`` can hold is shown as absent, a phase
that cannot be shown is left out, and a row that still cannot be shown as plain JSON becomes a short view naming
what is wrong (:func:`shown`), so that one row never turns a listing into a 500.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any, Mapping

API_TYPE = {"ar": "ar", "be": "best_effort", "im": "immediate", "deadline": "deadline"}
UNSHOWABLE = "this lease's stored record holds values that cannot be shown in full"

log = logging.getLogger("galerna.daemon")


def ts(t: float | None) -> str | None:
    """An instant as ISO 8601 UTC; None when absent or not representable (beyond year 9999, NaN, not a number)."""
    if t is None:
        return None
    try:
        return datetime.fromtimestamp(t, timezone.utc).isoformat()
    except (OverflowError, OSError, ValueError, TypeError):
        return None


def _phases(ps: list[dict]) -> list[dict]:
    out = []
    for p in ps:
        start, end = ts(p.get("start")), ts(p.get("end"))
        if start is not None and end is not None:
            out.append({"activity": p["activity"], "start": start, "end": end, "hosts": p["hosts"]})
    return out


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


def _text(v: Any) -> str | None:
    return v if isinstance(v, str) and encodable(v) else None


def encodable(v: Any) -> bool:
    """Whether ``v`` can be sent as strict JSON in UTF-8 (no NaN, no lone surrogate)."""
    try:
        json.dumps(v, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (ValueError, TypeError, UnicodeEncodeError):
        return False
    return True


def stub_view(r: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a row that can be shown, the rest empty, and a reason that says so."""
    submitted = ts(r.get("submitted")) or ts(0.0)
    reason = _text(r.get("reason")) or ""
    return {"id": str(r["seq"]), "name": _text(r.get("name")), "tenant": _text(r.get("tenant")),
            "type": API_TYPE.get(r.get("type"), "best_effort"), "state": _text(r.get("state")) or "unknown",
            "reason": f"{UNSHOWABLE}" + (f"; {reason}" if reason else ""), "submitted": submitted,
            "start": None, "end": None, "requested_start": None, "deadline": None, "duration": 0.0, "nodes": [],
            "preemptible": True, "image": None, "hosts": [], "plan": [], "history": []}


def shown(r: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`lease_view` when it can be sent as plain JSON, else :func:`stub_view` (and one log line)."""
    try:
        v = lease_view(r)
        if v["submitted"] is not None and encodable(v):
            return v
    except (KeyError, TypeError, ValueError, AttributeError):
        pass
    log.warning("lease %s: its stored record cannot be shown in full", r.get("seq"))
    return stub_view(r)


def row_mapping(row: Any) -> dict[str, Any]:
    return {k: getattr(row, k) for k in ("seq", "tenant", "name", "type", "request", "submitted", "state", "reason",
                                         "core", "start", "end")}
