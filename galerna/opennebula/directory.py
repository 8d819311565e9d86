"""Which OpenNebula VM is which Galerna VM, and a wake-up for threads waiting on VM states.

Galerna names a lease's VMs ``<prefix>-<lease>-<index>``; an OpenNebula lease
is made of existing VMs, so the enactment driver must know that
``galerna-one-4-1`` is VM 7. The directory is filled when VMs become leases
(and again from the database after a restart). It also records which leases
are over: for those, removing a VM from its host ends it (terminate);
for the others (a cancel-and-requeue, a stale copy), it only frees the host.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable, Sequence

from galerna.enact.driver import vm_name


@dataclass(frozen=True)
class Entry:
    name: str
    vm_id: int
    lease_id: str
    index: int


#: a lease id -> its OpenNebula VM ids in node order (None: not an OpenNebula lease)
Resolver = Callable[[str], Sequence[int] | None]


class Directory:
    def __init__(self, prefix: str = "galerna", resolver: Resolver | None = None,
                 final: Callable[[str], bool] | None = None):
        self.prefix = prefix
        self.resolver = resolver
        self.final = final  # the daemon's word on whether a lease is over (its core decides before enacting)
        self._lock = threading.Condition()
        self._by_name: dict[str, Entry] = {}
        self._by_id: dict[int, Entry] = {}
        self._over: set[str] = set()
        self._version = 0

    def add_lease(self, lease_id: str, vm_ids: tuple[int, ...] | list[int]) -> list[Entry]:
        """Register a lease's VMs in node order; returns their entries."""
        out = []
        with self._lock:
            for i, vm_id in enumerate(vm_ids):
                e = Entry(vm_name(lease_id, i, self.prefix), int(vm_id), lease_id, i)
                self._by_name[e.name] = e
                self._by_id[e.vm_id] = e
                out.append(e)
        return out

    def by_name(self, name: str) -> Entry | None:
        """The entry of a Galerna VM name; asks the resolver for leases not registered yet (a restart, or a
        deploy that got to the driver before the lease was registered)."""
        with self._lock:
            e = self._by_name.get(name)
        if e is not None or self.resolver is None:
            return e
        lease_id = self.lease_of(name)
        ids = self.resolver(lease_id) if lease_id is not None else None
        if not ids:
            return None
        self.add_lease(lease_id, list(ids))
        with self._lock:
            return self._by_name.get(name)

    def lease_of(self, name: str) -> str | None:
        """``galerna-12-0`` -> ``12`` (the inverse of ``vm_name`` for this prefix)."""
        head = self.prefix + "-"
        if not name.startswith(head) or "-" not in name[len(head):]:
            return None
        lease, _, index = name[len(head):].rpartition("-")
        return lease if index.isdigit() and lease else None

    def by_vm(self, vm_id: int) -> Entry | None:
        with self._lock:
            return self._by_id.get(vm_id)

    def lease_vms(self, lease_id: str) -> list[Entry]:
        with self._lock:
            return sorted((e for e in self._by_name.values() if e.lease_id == lease_id), key=lambda e: e.index)

    def known(self) -> set[int]:
        with self._lock:
            return set(self._by_id)

    def end_lease(self, lease_id: str) -> None:
        """The lease is done or cancelled: removing its VMs terminates them."""
        with self._lock:
            self._over.add(lease_id)

    def is_over(self, lease_id: str) -> bool:
        with self._lock:
            if lease_id in self._over:
                return True
        return bool(self.final and self.final(lease_id))

    # ------------------------------------------------------------------ state change wake-ups
    def changed(self) -> None:
        """Something happened to some VM (an event arrived): wake every waiter to look again."""
        with self._lock:
            self._version += 1
            self._lock.notify_all()

    def version(self) -> int:
        with self._lock:
            return self._version

    def wait_change(self, since: int, timeout: float) -> int:
        """Block until :meth:`changed` after version ``since``, or ``timeout`` s; returns the version."""
        with self._lock:
            self._lock.wait_for(lambda: self._version != since, timeout)
            return self._version
