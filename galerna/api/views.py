"""Database rows as the API's response bodies (the lease view itself is the daemon's, shared with its loop)."""
from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter, ValidationError

from galerna.api.schemas import LeaseOut
from galerna.daemon.views import encodable, row_mapping, shown, stub_view, ts
from galerna.store.models import HostRow, LeaseEventRow, LeaseRow, ReservationRow


_LEASE_OUT = TypeAdapter(LeaseOut)


def lease_out(row: LeaseRow) -> dict[str, Any]:
    """The lease's view, or a short one when its stored values do not fit the response schema (never a 500)."""
    m = row_mapping(row)
    v = shown(m)
    try:
        _LEASE_OUT.validate_python(v)
    except ValidationError:
        v = stub_view(m)
    return v


def event_out(r: LeaseEventRow) -> dict[str, Any]:
    return {"time": ts(r.time), "kind": r.kind, "detail": r.detail, "state": r.state, "hosts": r.hosts}


def reservation_out(r: ReservationRow, tenant: str | None) -> dict[str, Any] | None:
    """A planned phase; None for one that cannot be shown (an instant beyond year 9999, say)."""
    v = {"lease": str(r.lease_seq), "tenant": tenant, "activity": r.activity, "start": ts(r.start),
         "end": ts(r.end), "hosts": r.hosts}
    if v["start"] is None or v["end"] is None or not encodable(v):
        return None
    return v


def host_out(r: HostRow) -> dict[str, Any]:
    return {"name": r.name, "uri": r.uri, "cpu": r.cpu, "memory": r.memory, "extra": r.extra or {},
            "state": r.admin_state, "health": r.health}


def vm_out(vm: tuple[str, str, str | None]) -> dict[str, Any]:
    name, state, lease = vm
    return {"name": name, "state": state, "lease": lease}
