"""Reads a simulation output directory (../shared/FORMATS.md) into the compact form `galerna view` sends the browser.

Leases and allocations go out as columns (allocations' host and lease as indices) rather than one object per row: a
30-day Blue Horizon run has tens of thousands of rows, and columns keep the JSON small and quick to parse.
"""
from __future__ import annotations

import csv
import sys
from array import array
from pathlib import Path
from typing import Any

ACTIVITIES = ["run", "boot", "shutdown", "suspend", "resume", "migrate", "transfer"]
TYPES = {"ar": "ar", "be": "best_effort", "im": "immediate", "deadline": "deadline"}
LEASE_FIELDS = ["lease_id", "type", "submit", "start_requested", "deadline", "duration", "real_duration", "nodes",
                "cpu", "memory", "preemptible", "state", "start", "end", "wait", "suspensions", "hosts"]


class OutputDirError(ValueError):
    """An output directory that is missing a file or holds a malformed row; the message names file and line."""


def _rows(path: Path, need: list[str]):
    if not path.is_file():
        raise OutputDirError(f"{path}: missing (is this a `galerna simulate --out` directory?)")
    with open(path, newline="") as fh:
        r = csv.DictReader(fh)
        missing = [c for c in need if c not in (r.fieldnames or [])]
        if missing:
            raise OutputDirError(f"{path}:1: missing column(s) {', '.join(missing)}")
        for row in r:
            yield r.line_num, row


def _num(path: Path, line: int, row: dict, key: str) -> float | None:
    v = row.get(key) or ""
    if v == "":
        return None
    try:
        return float(v)
    except ValueError:
        raise OutputDirError(f"{path}:{line}: {key} is not a number: {v!r}") from None


def read_output(out: Path) -> dict[str, Any]:
    """hosts (name, cpu, memory); leases (as in leases.csv) and allocations as columns."""
    out = Path(out)
    hp = out / "hosts.csv"
    hosts = []
    for line, row in _rows(hp, ["host", "cpu", "memory"]):
        hosts.append({"name": row["host"], "cpu": _num(hp, line, row, "cpu"), "memory": _num(hp, line, row, "memory")})
    host_index = {h["name"]: i for i, h in enumerate(hosts)}
    lp = out / "leases.csv"
    leases = []
    for line, row in _rows(lp, ["lease_id", "type", "state"]):
        if row["type"] not in TYPES:
            raise OutputDirError(f"{lp}:{line}: unknown lease type {row['type']!r}")
        lease = {k: row.get(k, "") for k in LEASE_FIELDS}
        lease["type"] = TYPES[row["type"]]
        for k in ("submit", "start_requested", "deadline", "duration", "real_duration", "cpu", "memory", "start",
                  "end", "wait"):
            lease[k] = _num(lp, line, row, k)
        leases.append(lease)
    lease_index = {lease["lease_id"]: i for i, lease in enumerate(leases)}
    ap = out / "allocations.csv"
    cols: dict[str, list] = {"lease": [], "node": [], "host": [], "start": [], "end": [], "activity": []}
    for line, row in _rows(ap, ["lease_id", "node", "host", "start", "end", "activity"]):
        try:
            lease, host, act = lease_index[row["lease_id"]], host_index[row["host"]], ACTIVITIES.index(row["activity"])
        except KeyError as e:
            raise OutputDirError(f"{ap}:{line}: unknown {'lease' if e.args[0] == row['lease_id'] else 'host'} "
                                 f"{e.args[0]!r}") from None
        except ValueError:
            raise OutputDirError(f"{ap}:{line}: unknown activity {row['activity']!r}") from None
        start, end = _num(ap, line, row, "start"), _num(ap, line, row, "end")
        if start is None or end is None:
            raise OutputDirError(f"{ap}:{line}: start and end are needed")
        cols["lease"].append(lease)
        cols["node"].append(int(_num(ap, line, row, "node") or 0))
        cols["host"].append(host)
        cols["start"].append(start)
        cols["end"].append(end)
        cols["activity"].append(act)
    return {"name": out.resolve().name, "hosts": hosts, "activities": ACTIVITIES,
            "leases": {k: [lease[k] for lease in leases] for k in LEASE_FIELDS}, "allocations": cols}


# The allocations' columns as the browser reads them: little-endian typed arrays, one after another (the 8-byte ones
# first, so each column starts aligned to its own size).
LAYOUT = [("start", "d", "Float64Array"), ("end", "d", "Float64Array"), ("lease", "i", "Int32Array"),
          ("node", "i", "Int32Array"), ("host", "i", "Int32Array"), ("activity", "B", "Uint8Array")]


def allocation_columns(cols: dict[str, list]) -> bytes:
    """The allocations as LAYOUT's typed arrays: what `galerna view` sends, so the page parses nothing."""
    parts = []
    for name, code, _ in LAYOUT:
        arr = array(code, cols[name])
        if sys.byteorder == "big":
            arr.byteswap()
        parts.append(arr.tobytes())
    return b"".join(parts)
