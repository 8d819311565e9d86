"""The concurrency gate in front of every driver.

Every hypervisor operation asks the gate for a slot keyed by
``(connection, tenant, pool)`` and gives it back when done:

* ``per_host`` operations at once per connection (OpenNebula's one action
  per host by default; a larger number is its parallel mode; 0 = unlimited),
  overridden per driver type (the URI scheme: ``test``, ``qemu+tcp``...) or per
  exact URI;
* per-tenant mode (Abiquo ``byvdc``): the limit counts per tenant per
  connection, so different tenants' operations run side by side;
* fast state changes (power on/off, pause, reset, reboot) bypass the limit
  when enabled (Abiquo ``faststatechanges``);
* image/device operations and backup-type operations (state-file saves and
  copies) have pools of their own;
* a global cap over all hosts.

Each key is served first come, first served; when several keys could
proceed, the oldest request goes first (this is what the global cap sees).
A failing operation that is retried gives its slot back and asks again, so
it re-enters at the back of its host's queue and never holds the others up.
"""
from __future__ import annotations

import itertools
import threading
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Callable, Iterator

from galerna.enact.config import GateConfig
from galerna.enact.driver import BACKUP_OPS, FAST_STATE_OPS, IMAGE_OPS, OperationKind, uri_scheme


class PoolKind(StrEnum):
    OPS = "ops"
    FAST = "fast"
    IMAGE = "image"
    BACKUP = "backup"


Key = tuple[str, str | None, PoolKind]


class Granted:
    """``threading.Event``'s ``set``/``is_set``/``wait``, with no Condition unless someone waits.

    Most tickets are granted through ``on_grant`` and never waited on; an
    Event (a Condition and a lock) per ticket was a fifth of the gate's CPU.
    """

    __slots__ = ("_flag", "_event")

    def __init__(self) -> None:
        self._flag = False
        self._event: threading.Event | None = None

    def is_set(self) -> bool:
        return self._flag

    def set(self) -> None:
        self._flag = True
        ev = self._event
        if ev is not None:
            ev.set()

    def wait(self, timeout: float | None = None) -> bool:
        if self._flag:
            return True
        if self._event is None:
            self._event = threading.Event()
        # set() stores the flag before it reads the event: either it sees our event or we see its flag
        return self._flag or self._event.wait(timeout)


@dataclass(eq=False)
class Ticket:
    seq: int
    uri: str
    tenant: str | None
    kind: OperationKind
    key: Key
    label: str = ""
    count_global: bool = True
    on_grant: Callable[["Ticket"], None] | None = None
    granted: Granted = field(default_factory=Granted)
    released: bool = False
    cancelled: bool = False

    def __repr__(self) -> str:
        return f"Ticket(#{self.seq} {self.kind.value} {self.label or ''} on {self.uri})"


class GateTimeout(TimeoutError):
    pass


class Gate:
    def __init__(self, config: GateConfig | None = None):
        self.config = config or GateConfig()
        self._lock = threading.Lock()
        self._seq = itertools.count()
        self._queues: dict[Key, deque[Ticket]] = {}
        self._active: dict[Key, int] = {}
        self._global = 0
        # observations, for tests and the benchmark
        self.max_active: dict[Key, int] = {}
        self.max_global = 0
        self.grants = 0

    # ------------------------------------------------------------------ limits
    def pool_of(self, kind: OperationKind) -> PoolKind:
        if kind in FAST_STATE_OPS and self.config.fast_state_changes:
            return PoolKind.FAST
        if kind in IMAGE_OPS:
            return PoolKind.IMAGE
        if kind in BACKUP_OPS:
            return PoolKind.BACKUP
        return PoolKind.OPS

    def limit(self, uri: str, pool: PoolKind) -> int:
        """Concurrent operations allowed for a key of this URI and pool (0 = unlimited)."""
        c = self.config
        if pool is PoolKind.FAST:
            return 0
        if pool is PoolKind.IMAGE:
            return c.image_ops
        if pool is PoolKind.BACKUP:
            return c.backup_ops
        if uri in c.overrides:
            return c.overrides[uri]
        return c.overrides.get(uri_scheme(uri), c.per_host)

    def key(self, uri: str, kind: OperationKind, tenant: str | None = None) -> Key:
        return (uri, tenant if self.config.per_tenant else None, self.pool_of(kind))

    # ------------------------------------------------------------------ requests
    def request(
        self,
        uri: str,
        kind: OperationKind,
        tenant: str | None = None,
        *,
        on_grant: Callable[[Ticket], None] | None = None,
        label: str = "",
        count_global: bool = True,
    ) -> Ticket:
        """Queue a request without blocking; ``on_grant(ticket)`` runs once it holds a slot.

        ``on_grant`` is called from whichever thread frees the slot (or from
        this one), outside the gate's lock; it should hand work off, not do it.
        """
        key = self.key(uri, kind, tenant)
        t = Ticket(next(self._seq), uri, tenant, kind, key, label, count_global, on_grant)
        with self._lock:
            self._queues.setdefault(key, deque()).append(t)
            granted = self._dispatch()
        self._notify(granted)
        return t

    def acquire(
        self, uri: str, kind: OperationKind, tenant: str | None = None, *, timeout: float | None = None, label: str = ""
    ) -> Ticket:
        """Block until a slot is free (FIFO per key); raises :class:`GateTimeout` after ``timeout`` s."""
        t = self.request(uri, kind, tenant, label=label)
        if not t.granted.wait(timeout):
            if self.cancel(t):
                raise GateTimeout(f"no slot for {kind.value} on {uri} within {timeout} s")
        return t

    def cancel(self, ticket: Ticket) -> bool:
        """Withdraw a waiting request. True if withdrawn; False if it was granted meanwhile (still held)."""
        with self._lock:
            q = self._queues.get(ticket.key)
            if q is not None and ticket in q and not ticket.granted.is_set():
                q.remove(ticket)
                ticket.cancelled = True
                granted = self._dispatch()
            else:
                return False
        self._notify(granted)
        return True

    def release(self, ticket: Ticket) -> None:
        with self._lock:
            if ticket.released or not ticket.granted.is_set():
                raise RuntimeError(f"{ticket} released twice or never granted")
            ticket.released = True
            self._active[ticket.key] -= 1
            if ticket.count_global:
                self._global -= 1
            granted = self._dispatch()
        self._notify(granted)

    @contextmanager
    def slot(self, uri: str, kind: OperationKind, tenant: str | None = None, *, timeout: float | None = None,
             label: str = "") -> Iterator[Ticket]:
        t = self.acquire(uri, kind, tenant, timeout=timeout, label=label)
        try:
            yield t
        finally:
            self.release(t)

    @contextmanager
    def slots(self, requests: list[tuple[str, OperationKind]], tenant: str | None = None, *,
              timeout: float | None = None, label: str = "") -> Iterator[list[Ticket]]:
        """Slots on several hosts at once (a migration's source and destination).

        Taken in URI order so two migrations in opposite directions cannot
        deadlock; only the first counts against the global cap.
        """
        held: list[Ticket] = []
        try:
            for i, (uri, kind) in enumerate(sorted(requests)):
                t = self.request(uri, kind, tenant, label=label, count_global=(i == 0))
                if not t.granted.wait(timeout):
                    if self.cancel(t):
                        raise GateTimeout(f"no slot for {kind.value} on {uri} within {timeout} s")
                held.append(t)
            yield held
        finally:
            for t in reversed(held):
                self.release(t)

    # ------------------------------------------------------------------ internals
    def _room(self, key: Key) -> bool:
        lim = self.limit(key[0], key[2])
        return lim == 0 or self._active.get(key, 0) < lim

    def _dispatch(self) -> list[Ticket]:
        """Grant heads of queues, oldest first, while limits allow. Caller holds the lock."""
        granted = []
        cap = self.config.global_cap
        while True:
            best: Ticket | None = None
            for key, q in self._queues.items():
                if not q or not self._room(key):
                    continue
                head = q[0]
                if head.count_global and cap and self._global >= cap:
                    continue
                if best is None or head.seq < best.seq:
                    best = head
            if best is None:
                return granted
            self._queues[best.key].popleft()
            n = self._active.get(best.key, 0) + 1
            self._active[best.key] = n
            self.max_active[best.key] = max(self.max_active.get(best.key, 0), n)
            if best.count_global:
                self._global += 1
                self.max_global = max(self.max_global, self._global)
            self.grants += 1
            best.granted.set()
            granted.append(best)

    @staticmethod
    def _notify(granted: list[Ticket]) -> None:
        for t in granted:
            if t.on_grant is not None:
                t.on_grant(t)

    def snapshot(self) -> dict[str, object]:
        with self._lock:
            return {
                "active": {f"{k[0]}|{k[1] or '-'}|{k[2].value}": n for k, n in self._active.items() if n},
                "waiting": {f"{k[0]}|{k[1] or '-'}|{k[2].value}": len(q) for k, q in self._queues.items() if q},
                "global": self._global,
            }

    def max_per_host(self, pool: PoolKind = PoolKind.OPS) -> dict[str, int]:
        out: dict[str, int] = {}
        for (uri, _tenant, p), n in self.max_active.items():
            if p is pool:
                out[uri] = max(out.get(uri, 0), n)
        return out
