"""Haizea's lease XML, both ways: a ``<lease>`` element read as the service's submit arguments, and a lease row
written as Haizea's ``Lease.to_xml_string()`` writes it. The XML-RPC interface (:mod:`galerna.api.xmlrpc`) speaks
it; the element is Haizea's LWF ``<lease>``, read by :mod:`galerna.readers.lwf`."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from galerna.model.bounds import DEFAULT, LeaseBounds, OutOfBounds, check_lease
from galerna.model.units import parse_duration
from galerna.readers.errors import TraceError
from galerna.readers.xmltree import Node, parse
from galerna.store.models import LeaseRow

# Haizea's Lease.STATE_* numbers
HAIZEA_STATE = {"pending": 1, "rejected": 2, "scheduled": 3, "queued": 4, "cancelled": 5, "preparing": 6,
                "ready": 7, "active": 8, "suspending": 9, "suspended-pending": 10, "suspended-queued": 11,
                "suspended-scheduled": 12, "migrating": 13, "resuming": 14, "done": 16, "failed": 17}
SOURCE = Path("<create_lease>")


# ----------------------------------------------------------------- lease XML in
def _absolute(text: str) -> float | None:
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def _node_count(root: Node, b: LeaseBounds) -> None:
    """The node count within the bounds, checked before the reader builds one resource map per node."""
    total = 0
    for ns in (root.find("nodes").findall("node-set") if root.find("nodes") is not None else []):
        text = (ns.get("numnodes") or "").strip()
        if not text.isdigit():
            raise TraceError(SOURCE, ns.line, f"numnodes must be a whole number, got {ns.get('numnodes')!r}")
        total += int(text)
        if total > b.max_nodes:
            raise OutOfBounds("nodes", f"at most {b.max_nodes} nodes in one lease")


def parse_lease(xml: str, now: float, b: LeaseBounds = DEFAULT) -> dict[str, Any]:
    """Haizea's ``<lease>`` element as the service's submit arguments (times in Unix seconds).

    Raises :class:`TraceError` naming the problem (with its line), or :class:`OutOfBounds` for a value outside the
    lease bounds (the node count before anything is built, the rest on the arguments)."""
    from galerna.readers.lwf import _lease

    if not isinstance(xml, str) or not xml.strip():
        raise TraceError(SOURCE, None, "empty lease XML")
    root = parse(SOURCE, xml.encode("utf-8"))
    if root.tag == "lease-request" and root.find("lease") is not None:
        root = root.find("lease")
    if root.tag != "lease":
        raise TraceError(SOURCE, root.line, f"expected <lease>, found <{root.tag}>")
    _node_count(root, b)
    # absolute instants become offsets from now, so that the LWF reader can read them
    for path in ("start/exact", "deadline"):
        el = root.find(path)
        if el is None or el.get("time") is None:
            continue
        t = el.get("time")
        try:
            parse_duration(t)
            continue  # an offset from now, as in LWF files
        except ValueError:
            pass
        at = _absolute(t)
        if at is None:
            raise TraceError(SOURCE, el.line, f"<{el.tag} time={t!r}>: not an instant (ISO 8601 or "
                                              "YYYY-MM-DD HH:MM:SS) nor an offset ([+]HH:MM:SS)")
        el.attrib["time"] = repr(at - now)
    req = _lease(SOURCE, Node("lease-request", {"arrival": "0"}, root.line, [root]), root, "rpc")
    args = {
        "type": req.type.value, "duration": req.duration, "nodes": [dict(n) for n in req.nodes],
        "start": None if req.start is None else now + req.start,
        "deadline": None if req.deadline is None else now + req.deadline,
        "preemptible": req.preemptible, "image": req.image, "name": req.extra.get("name"),
    }
    check_lease(b, **args, image_id=req.image.id if req.image else None,
                image_size=req.image.size_mb if req.image else None)
    return args


# ----------------------------------------------------------------- lease XML out
def _instant(t: float) -> str:
    dt = datetime.fromtimestamp(t, timezone.utc)
    return f"{dt:%Y-%m-%d %H:%M:%S}.{dt.microsecond // 10000:02d}"


def _delta(seconds: float) -> str:
    d, rest = divmod(float(seconds), 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    hms = f"{int(h):02d}:{int(m):02d}:{s:05.2f}"
    return f"{int(d)}:{hms}" if d else hms


def lease_xml(row: LeaseRow) -> str:
    """A lease as Haizea's ``Lease.to_xml_string()`` writes it (plus galerna-* attributes)."""
    req = row.request
    el = ET.Element("lease", {"id": str(row.seq), "state": str(HAIZEA_STATE.get(row.state, 0)),
                              "preemptible": str(bool(req.get("preemptible", True))),
                              "submit-time": _instant(row.submitted), "galerna-state": row.state})
    if row.name:
        el.set("name", row.name)
    nodes = ET.SubElement(el, "nodes")
    groups: list[tuple[dict, int]] = []
    for n in req["nodes"]:
        if groups and groups[-1][0] == n:
            groups[-1] = (n, groups[-1][1] + 1)
        else:
            groups.append((n, 1))
    for n, count in groups:
        ns = ET.SubElement(nodes, "node-set", {"numnodes": str(count)})
        for k, v in n.items():
            kind = {"cpu": "CPU", "memory": "Memory"}.get(k, k)
            amount = v * 100 if k == "cpu" else v
            ET.SubElement(ns, "res", {"type": kind, "amount": str(int(amount) if amount == int(amount) else amount)})
    start = ET.SubElement(el, "start")
    if row.type == "im":
        ET.SubElement(start, "now")
    elif row.type in ("ar", "deadline") and req.get("start") is not None:
        ET.SubElement(start, "exact", {"time": _instant(req["start"])})
    ET.SubElement(el, "duration", {"time": _delta(req["duration"])})
    if row.type == "deadline" and req.get("deadline") is not None:
        ET.SubElement(el, "deadline", {"time": _instant(req["deadline"])})
    sw = ET.SubElement(el, "software")
    img = req.get("image")
    if img:
        ET.SubElement(sw, "disk-image", {"id": img["id"], "size": str(int(img.get("size_mb") or 0))})
    else:
        ET.SubElement(sw, "none")
    return ET.tostring(el, encoding="unicode")
