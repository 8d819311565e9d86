"""What enactment believes about each VM: where it is, what it should be, what was last seen.

The executor writes the desired side as operations succeed; the monitor
writes the observed side from events and reconciles; recovery reads both.
The daemon seeds it from its database (see :mod:`galerna.enact.reconcile`).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Callable

from galerna.enact.driver import HostState, VMSpec, VMState


class Desired(StrEnum):
    RUNNING = "running"
    SUSPENDED = "suspended"
    ABSENT = "absent"


@dataclass(frozen=True)
class VMRecord:
    spec: VMSpec
    host: str
    desired: Desired = Desired.RUNNING
    observed: VMState = VMState.UNKNOWN
    state_file: str | None = None
    since: float = 0.0  # when ``observed`` last changed

    @property
    def name(self) -> str:
        return self.spec.name


Listener = Callable[[VMRecord, VMState, VMState], None]


class Inventory:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._vms: dict[str, VMRecord] = {}
        self.hosts: dict[str, HostState] = {}  # URI -> what the monitor last saw (written by the monitor)
        self._listeners: list[Listener] = []

    def on_change(self, fn: Listener) -> None:
        """``fn(record, old_observed, new_observed)`` on every change of an observed state."""
        self._listeners.append(fn)

    def host_state(self, uri: str) -> HostState | None:
        return self.hosts.get(uri)

    def host_states(self) -> dict[str, HostState]:
        return dict(self.hosts)

    def forget_host(self, uri: str) -> list[VMRecord]:
        """A host Galerna no longer has: its state and the records of VMs on it go; returns those records."""
        with self._lock:
            left = [r for r in self._vms.values() if r.host == uri]
            for r in left:
                del self._vms[r.name]
            self.hosts.pop(uri, None)
        return left

    def abandon(self, vm: str, uri: str) -> None:
        """Give up ``vm`` on ``uri`` (its host does not answer): recovery removes it once the host answers again."""
        with self._lock:
            rec = self._vms.get(vm)
            if rec is not None and rec.host == uri:
                self._vms[vm] = replace(rec, desired=Desired.ABSENT)

    def put(self, record: VMRecord) -> None:
        with self._lock:
            self._vms[record.name] = record

    def __contains__(self, name: str) -> bool:
        with self._lock:
            return name in self._vms

    def get(self, name: str) -> VMRecord | None:
        with self._lock:
            return self._vms.get(name)

    def remove(self, name: str) -> None:
        with self._lock:
            self._vms.pop(name, None)

    def all(self) -> list[VMRecord]:
        with self._lock:
            return list(self._vms.values())

    def on_host(self, uri: str) -> list[VMRecord]:
        with self._lock:
            return [r for r in self._vms.values() if r.host == uri]

    def update(self, name: str, **changes: object) -> VMRecord | None:
        with self._lock:
            rec = self._vms.get(name)
            if rec is None:
                return None
            new = replace(rec, **changes)  # type: ignore[arg-type]
            if new.observed is not rec.observed:
                new = replace(new, since=time.monotonic())
            self._vms[name] = new
        if new.observed is not rec.observed:
            for fn in list(self._listeners):
                fn(new, rec.observed, new.observed)
        return new

    def observe(self, name: str, state: VMState) -> VMRecord | None:
        return self.update(name, observed=state)
