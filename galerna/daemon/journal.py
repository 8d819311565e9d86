"""Group commit: everything one batch changed, written in one transaction before anybody is answered.

The new requests, the row of every lease the batch touched (state, snapshot, planned window), their reservations,
their events and the hypervisor actions to start. A crash before the commit loses only requests nobody was told
about; a crash after it loses nothing (actions still ``pending`` are reconciled at the next start).
"""
from __future__ import annotations

import time
from typing import Callable

from sqlalchemy import bindparam, delete, update

from galerna.enact.executor import Action
from galerna.model.lease import LeaseRequest
from galerna.model.state import LeaseState as S
from galerna.schedule.lease import Activity as A
from galerna.schedule.plan import Event, Notice, describe
from galerna.store.db import Store
from galerna.store.models import ActionRow, IdempotencyRow, LeaseEventRow, LeaseRow, ReservationRow

from galerna.daemon import snapshot as snap
from galerna.daemon.hosts import HostRegistry
from galerna.daemon.idempotency import Keys
from galerna.daemon.state import Live
from galerna.daemon.views import ts

_LEASES, _EVENTS = LeaseRow.__table__, LeaseEventRow.__table__
_RESERVATIONS, _ACTIONS = ReservationRow.__table__, ActionRow.__table__
_LEASE_UPDATE = update(_LEASES).where(_LEASES.c.seq == bindparam("key"))

_NOTICE_STATE = {Notice.QUEUED: "queued", Notice.SCHEDULED: "scheduled", Notice.ACCEPTED: "scheduled",
                 Notice.DONE: "done", Notice.REJECTED: "rejected", Notice.CANCELLED: "cancelled"}
_PHASE_STATE = {A.RUN: "active", A.BOOT: "active", A.SUSPEND: "suspending", A.RESUME: "resuming", A.MIGRATE: "migrating"}


def _event_state(e: Event, current: str) -> str:
    if e.notice is Notice.PHASE_STARTED:
        return _PHASE_STATE.get(e.activity, current)
    return _NOTICE_STATE.get(e.notice, current)


class Journal:
    def __init__(self, store: Store, clock: Callable[[], float], live: Live, hosts: HostRegistry):
        self.store, self.clock, self.live, self.hosts = store, clock, live, hosts
        self._notes: list[dict] = []  # event rows of the batch that the core did not produce
        self.new_rows: dict[str, dict] = {}  # lease id -> its row, for the leases the last commit created
        self.keys = Keys(store)  # idempotency keys claimed by the batch, written with its new leases
        self.guard: Callable[[], None] = lambda: None  # raises when writes must stop (daemon/fence.py)
        self.last_commit = 0.0  # when the last commit succeeded (time.time)

    def note(self, lid: str, time: float, kind: str, detail: str, hosts: list[str], state: str | None = None) -> None:
        """An event row of the daemon's own (recovery, requeue, host up/down) for the next commit; ``state``: the
        lease's state now unless given."""
        self._notes.append({"lease_seq": int(lid), "time": time, "kind": kind, "detail": detail,
                            "state": state or self.live.state(lid), "hosts": hosts})

    def commit(self, new: list[tuple[LeaseRequest, str | None]], events: list[Event], touched: set[str],
               actions: list[tuple[str, Action]]) -> list[tuple[int, Action]]:
        """Write the batch in one transaction: ``new`` (request, name) leases, the leases ``touched`` or named by
        ``events``, and ``actions`` (lease id, action). Returns (action row id, action) to hand to the executor.

        SQLAlchemy Core statements on one connection (executemany per table), not the ORM: the rows are
        plain dicts already, and the ORM's unit of work cost more than the database did.
        """
        core, epoch, names = self.live.core, self.live.epoch, self.hosts.names
        now = self.clock()
        ids = set(touched) | {e.lease_id for e in events}
        new_ids = {req.id for req, _ in new}
        self.new_rows = {}
        keys = self.keys.take(new_ids)
        self.guard()
        with self.store.engine.begin() as c:
            if new:
                rows = [self._row(core.leases[req.id], now) | {
                    "seq": int(req.id), "submitted": req.submit + epoch, "tenant": req.tenant, "name": name,
                    "type": req.type.value, "request": snap.request_to_json(req, epoch)} for req, name in new]
                c.execute(_LEASES.insert(), rows)
                self.new_rows = {str(r["seq"]): r for r in rows}
            if keys:
                c.execute(IdempotencyRow.__table__.insert(), keys)
            upd = [self._row(core.leases[i], now) for i in ids - new_ids if i in core.leases]
            if upd:
                c.execute(_LEASE_UPDATE, [dict(r, key=r.pop("seq")) for r in upd])
            old = [int(i) for i in ids - new_ids]
            if old:  # a new lease has no reservation rows yet
                c.execute(delete(_RESERVATIONS).where(_RESERVATIONS.c.lease_seq.in_(old)))
            res = [{"lease_seq": int(i), "activity": p.activity.value, "start": p.start + epoch,
                    "end": p.end + epoch, "hosts": [names[h] for h in p.hosts]}
                   for i in ids if i in core.leases for p in core.leases[i].phases]
            if res:
                c.execute(_RESERVATIONS.insert(), res)
            evrows = [{"lease_seq": int(req.id), "time": req.submit + epoch, "kind": "submitted", "detail": "",
                       "state": S.PENDING.value, "hosts": []} for req, _ in new]
            evrows += self._notes
            self._notes = []
            state = self.live.state
            last = {e.lease_id: i for i, e in enumerate(events)}
            evrows += [{"lease_seq": int(e.lease_id), "time": e.time + epoch, "kind": e.notice.value,
                        "detail": describe(e, self.instant), "hosts": [names[h] for h in e.hosts],
                        "state": state(e.lease_id) if last[e.lease_id] == i else _event_state(e, state(e.lease_id))}
                       for i, e in enumerate(events)]
            if evrows:
                c.execute(_EVENTS.insert(), evrows)
            out = []
            for lid, a in actions:
                row = {"lease_seq": int(lid), "kind": a.kind.value, "vm": a.vm, "host": self.hosts.name(a.host),
                       "dest": self.hosts.name(a.dest), "status": "pending", "created": now}
                out.append((c.execute(_ACTIONS.insert(), row).inserted_primary_key[0], a))
        self.guard()  # committed, but into the file the daemon opened: still the database? else nobody is told
        self.last_commit = time.time()
        return out

    def lease_row(self, lid: str) -> dict:
        """The committed row of lease ``lid`` as a mapping (for an idempotent replay's answer)."""
        with self.store.engine.connect() as c:
            return dict(c.execute(_LEASES.select().where(_LEASES.c.seq == int(lid))).mappings().one())

    def instant(self, t: float) -> str:
        """A core time in a refusal as an ISO 8601 instant. Rounded to 6 significant digits first, as the text these
        instants were once parsed back from had them (``:g``), so that messages stay what they were."""
        return ts(float(f"{t:g}") + self.live.epoch)

    def reason(self, lease) -> str:
        return lease.note if lease.refusal is None else lease.refusal.text(self.instant)

    def _row(self, lease, now: float) -> dict:
        gone = self.live.gone.get(lease.id, ())
        start, end = snap.planned_window(lease, self.live.epoch, gone)
        return {"seq": int(lease.id), "state": self.live.state(lease.id), "reason": self.reason(lease),
                "core": snap.snapshot(lease, self.hosts.names, self.live.epoch, gone), "start": start, "end": end,
                "updated": now}
