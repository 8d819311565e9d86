"""Database rows as the API's response bodies (the lease view itself is the daemon's, shared with its loop)."""
from __future__ import annotations

from typing import Any

from galerna.daemon.views import lease_view, row_mapping, ts
from galerna.store.models import HostRow, LeaseEventRow, LeaseRow, ReservationRow


def lease_out(row: LeaseRow) -> dict[str, Any]:
    return lease_view(row_mapping(row))


def event_out(r: LeaseEventRow) -> dict[str, Any]:
    return {"time": ts(r.time), "kind": r.kind, "detail": r.detail, "state": r.state, "hosts": r.hosts}


def reservation_out(r: ReservationRow, tenant: str | None) -> dict[str, Any]:
    return {"lease": str(r.lease_seq), "tenant": tenant, "activity": r.activity, "start": ts(r.start),
            "end": ts(r.end), "hosts": r.hosts}


def host_out(r: HostRow) -> dict[str, Any]:
    return {"name": r.name, "uri": r.uri, "cpu": r.cpu, "memory": r.memory, "extra": r.extra or {},
            "state": r.admin_state, "health": r.health}


def vm_out(vm: tuple[str, str, str | None]) -> dict[str, Any]:
    name, state, lease = vm
    return {"name": name, "state": state, "lease": lease}
