"""Notifications: the broker that fans them out (the SSE stream), "ending soon" notices, core events as messages."""
from __future__ import annotations

import heapq
import itertools
import logging
import threading
from dataclasses import dataclass, field
from math import inf
from typing import Any, Callable

from galerna.model.state import LeaseState as S
from galerna.schedule.lease import Activity as A
from galerna.schedule.plan import Event, Notice, describe

log = logging.getLogger("galerna.daemon")


@dataclass
class Broker:
    """Fan-out of notifications (for the SSE stream) to subscriber callbacks."""

    subs: dict[int, Callable[[dict], None]] = field(default_factory=dict)
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _seq: Any = field(default_factory=lambda: itertools.count(1))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def subscribe(self, fn: Callable[[dict], None]) -> int:
        with self.lock:
            i = next(self._ids)
            self.subs[i] = fn
            return i

    def unsubscribe(self, i: int) -> None:
        with self.lock:
            self.subs.pop(i, None)

    def publish(self, msg: dict) -> None:
        msg = dict(msg, id=next(self._seq))
        with self.lock:
            subs = list(self.subs.values())
        for fn in subs:
            try:
                fn(msg)
            except Exception:  # noqa: BLE001
                log.exception("event subscriber failed")


class Notifier:
    """Turns the core's events into stream messages, and keeps the "ending soon" notices due (Unix times)."""

    def __init__(self, broker: Broker, ending_soon_minutes: float):
        self.broker = broker
        self.lead = ending_soon_minutes * 60
        self._soon: list[tuple[float, str, float]] = []  # (notify at, lease id, run end)

    def clear(self) -> None:
        self._soon = []

    def watch(self, lid: str, end: float) -> None:
        """Announce ``lid`` as ending soon before ``end``, if its run still ends then."""
        heapq.heappush(self._soon, (end - self.lead, lid, end))

    def next_at(self) -> float:
        return self._soon[0][0] if self._soon else inf

    def host(self, name: str, up: bool, time: float) -> None:
        self.broker.publish({"event": "host.up" if up else "host.down", "host": name, "time": time})

    def host_changed(self, name: str, action: str, time: float) -> None:
        """A host added, removed, enabled, disabled or put in maintenance (the console marks its row)."""
        self.broker.publish({"event": "host.changed", "host": name, "action": action, "time": time})

    def lease(self, event: str, lease, time: float, **more: Any) -> None:
        self.broker.publish({"event": event, "lease": lease.id, "tenant": lease.req.tenant, **more, "time": time})

    def events(self, events: list[Event], now: float, core, epoch: float, names: list[str]) -> None:
        """Publish what ``events`` mean to a tenant, and the ending-soon notices due at ``now``."""
        pub = self.broker.publish
        while self._soon and self._soon[0][0] <= now:
            _, lid, end = heapq.heappop(self._soon)
            lease = core.leases.get(lid)
            if lease is not None and lease.state is S.ACTIVE and lease.phases and \
                    lease.phases[0].activity is A.RUN and abs(lease.phases[0].end + epoch - end) < 1e-3:
                pub({"event": "lease.ending_soon", "lease": lid, "tenant": lease.req.tenant, "end": end, "time": now})
        for e in events:
            lease = core.leases[e.lease_id]
            base = {"lease": e.lease_id, "tenant": lease.req.tenant, "time": e.time + epoch,
                    "hosts": [names[h] for h in e.hosts]}
            name = None
            if e.notice is Notice.PHASE_STARTED and e.activity is A.RUN:
                prev = lease.history[-1] if lease.history else None
                self.watch(e.lease_id, e.until + epoch)
                if prev is None or prev.activity is not A.RESUME:
                    name = "lease.started"  # a resumed run was announced when its resume phase ended
            elif e.notice is Notice.PHASE_ENDED and e.activity is A.RESUME:
                name = "lease.resumed"
            elif e.notice is Notice.PHASE_ENDED and e.activity is A.SUSPEND:
                name = "lease.suspended"
            elif e.notice is Notice.DONE:
                name = "lease.ended"
            elif e.notice is Notice.CANCELLED:
                # a failure the daemon asked for (core.fail: a reason, no refusal of the core's own) was announced
                # already, with the hypervisor's reason
                if not (lease.state is S.FAILED and e.refusal is None):
                    name = "lease.failed" if lease.state is S.FAILED else "lease.cancelled"
                base["reason"] = describe(e)
            elif e.notice is Notice.REJECTED:
                name = "lease.rejected"
                base["reason"] = describe(e)
            elif e.notice is Notice.PREEMPTED:
                name = "lease.preempted"
                base["detail"] = describe(e)
            # a lease granted, queued or moved changes the plan a client (the console) draws
            elif e.notice in (Notice.ACCEPTED, Notice.SCHEDULED):
                name = "lease.scheduled"
            elif e.notice is Notice.QUEUED:
                name = "lease.queued"
            if name:
                pub({"event": name, **base})
