"""The daemon's service loop: the scheduling core on the real clock, with durable state.

One thread owns the :class:`LeaseScheduler`. Everything that changes it —
lease requests, cancellations, updates, host changes, results from the
hypervisors — arrives as an operation in the inbox; API handlers wait on a
future for the decision. The loop sleeps on a condition until the earliest of
the core's next event, the next "ending soon" notice, or a new operation:
there is no polling interval.

Each wake-up handles the whole inbox as one *batch*: the core decides, then
the new requests, the snapshots of every lease the batch touched, their
events, their reservations and the hypervisor actions to start are written in
**one transaction**. Only after it commits are the callers answered and the
actions handed to the executor. A crash before the commit loses only
requests nobody was told about; a crash after it loses nothing (actions
still ``pending`` are reconciled against the hypervisors at the next start).
"""
from __future__ import annotations

import heapq
import re
import itertools
import logging
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from math import inf
from typing import Any, Callable

from sqlalchemy import bindparam, delete, func, select, update

from galerna.enact.config import FailureOutcome
from galerna.enact.driver import HostState, OperationKind as Op, VMSpec, vm_name
from galerna.enact.executor import Action, ActionResult, Executor
from galerna.enact.inventory import Desired
from galerna.model.lease import LeaseRequest, LeaseType
from galerna.model.site import Host, Site
from galerna.model.state import LeaseState as S
from galerna.schedule.lease import Activity as A, Phase
from galerna.schedule.plan import Event, Notice
from galerna.schedule.scheduler import LeaseScheduler
from galerna.store.db import Store
from galerna.store.models import ActionRow, HostRow, LeaseEventRow, LeaseRow, ReservationRow

from galerna.daemon import snapshot as snap
from galerna.daemon.settings import Settings
from galerna.daemon.views import lease_view, ts

log = logging.getLogger("galerna.daemon")

_LEASES, _EVENTS = LeaseRow.__table__, LeaseEventRow.__table__
_RESERVATIONS, _ACTIONS = ReservationRow.__table__, ActionRow.__table__
_LEASE_UPDATE = update(_LEASES).where(_LEASES.c.seq == bindparam("key"))

BASE = ("cpu", "memory")
MAX_ENACT_REQUEUES = 3  # a lease whose VMs failed to start this many times fails


_TIMES = re.compile(r"((?:\bat|\bdeadline|\bstart|\bnow) )(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)\b")
_NOTICE_STATE = {Notice.QUEUED: "queued", Notice.SCHEDULED: "scheduled", Notice.ACCEPTED: "scheduled",
                 Notice.DONE: "done", Notice.REJECTED: "rejected", Notice.CANCELLED: "cancelled"}
_PHASE_STATE = {"run": "active", "boot": "active", "suspend": "suspending", "resume": "resuming", "migrate": "migrating"}


def _placeable(admin_state: str, health: str) -> bool:
    """New placements go only to hosts an admin left up and whose hypervisor answers (health ``error``: the host
    monitor lost it)."""
    return admin_state == "up" and health != "error"


def _event_state(e: Event, current: str) -> str:
    if e.notice is Notice.PHASE_STARTED:
        return _PHASE_STATE.get(e.detail, current)
    return _NOTICE_STATE.get(e.notice, current)


class Refused(Exception):
    """The request is well formed but cannot be granted; ``status`` is the HTTP status to answer."""

    def __init__(self, reason: str, status: int = 409, lease: dict | None = None):
        super().__init__(reason)
        self.reason, self.status, self.lease = reason, status, lease


@dataclass
class _Op:
    kind: str
    args: dict[str, Any]
    future: Future | None = None


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


class Service:
    def __init__(self, store: Store, settings: Settings | None = None, *, clock: Callable[[], float] = time.time,
                 drivers: dict | None = None):
        self.store = store
        self.settings = settings or Settings()
        self.clock = clock
        self.broker = Broker()
        self._cond = threading.Condition()
        self._inbox: list[_Op] = []
        self._stop = False
        self._thread: threading.Thread | None = None
        self._drivers = drivers
        self.executor: Executor | None = None
        self.uri_of: dict[str, str] = {}  # host name -> URI
        self.name_of_uri: dict[str, str] = {}
        self._listening: set[str] = set()  # URIs whose driver passes lifecycle and close events to the monitor
        self._soon: list[tuple[float, str, float]] = []  # (notify at, lease id, run end) - Unix time
        self.started = threading.Event()
        self._action_rows: dict[int, int] = {}
        self.reconciled: list[tuple[str, str, str]] = []
        self.monitor = None
        self.recovery = None
        self._gen: dict[str, int] = {}  # lease -> times it was requeued after an enactment failure
        self._action_gen: dict[int, int] = {}  # action id -> its lease's generation when it was handed over
        self._extra: list[dict] = []  # event rows of the batch that the core did not produce
        self._abandon: list[tuple[str, str]] = []  # (VM, host URI): to remove, but its host is in error
        self._gone: dict[str, snap.Gone] = {}  # history phases on hosts removed since (see snapshot.restore)
        self.batches = 0
        self.core: LeaseScheduler
        self.epoch: float = 0.0

    # ================================================================ life cycle
    def load(self) -> None:
        """The core rebuilt from the database: the clock's epoch, the hosts, every live lease at its plan."""
        epoch = self.store.get_meta("epoch")
        if epoch is None:
            epoch = str(float(int(self.clock())))
            self.store.set_meta("epoch", epoch)
        self.epoch = float(epoch)
        self._setup_hosts()
        self._rebuild()

    def start(self) -> None:
        self.load()
        self._reconcile()
        self._start_monitor()
        self._thread = threading.Thread(target=self._run, name="galerna-scheduler", daemon=True)
        self._thread.start()
        self.started.set()
        log.info("scheduler started", extra={"hosts": len(self.core.site), "leases": len(self.core.leases)})

    def stop(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._cond:
            left, self._inbox = self._inbox, []
        for op in left:
            if op.future is not None and not op.future.done():
                op.future.set_exception(Refused("the daemon is stopping", 503))
        if self.monitor is not None:
            self.monitor.stop()
        if self.executor is not None:
            self.executor.close(wait=False)
        log.info("scheduler stopped")

    # ================================================================ API side (any thread)
    def call(self, kind: str, **args: Any) -> Future:
        fut: Future = Future()
        with self._cond:
            if self._stop:
                fut.set_exception(Refused("the daemon is stopping", 503))
                return fut
            self._inbox.append(_Op(kind, args, fut))
            self._cond.notify()
        return fut

    def _post(self, kind: str, **args: Any) -> None:
        with self._cond:
            self._inbox.append(_Op(kind, args))
            self._cond.notify()

    def to_core(self, t: float) -> float:
        return t - self.epoch

    # ================================================================ hosts
    def _setup_hosts(self) -> None:
        st = self.settings
        with self.store.session.begin() as s:
            rows = list(s.scalars(select(HostRow).order_by(HostRow.position)))
            if not rows:
                now = self.clock()
                seed = self._seed_hosts()
                for i, (name, uri, cpu, mem) in enumerate(seed):
                    s.add(HostRow(name=name, uri=uri, cpu=cpu, memory=mem, extra={}, admin_state="up", health="up",
                                  position=i, created=now))
        if st.daemon.enact:
            self._open_drivers()

    def _seed_hosts(self) -> list[tuple[str, str | None, float, float]]:
        st = self.settings
        if not st.daemon.enact:
            c = st.config.site
            w = len(str(c.nodes))
            return [(f"host{i + 1:0{w}d}", None, c.cpu, c.memory) for i in range(c.nodes)]
        out = []
        for h, uri in self._host_uris():
            d = self._driver(uri)
            info = d.host_info()
            out.append((h, uri, float(info.cpus), float(info.memory_mb)))
        return out

    def _host_uris(self) -> list[tuple[str, str]]:
        from galerna.enact.config import default_test_hosts

        en = self.settings.enactment
        if en.hosts:
            return [(h.name or h.uri, h.uri) for h in en.hosts]
        uris = default_test_hosts(self.settings.daemon.test_hosts, self._data_dir())
        return [(f"test{i + 1}", u) for i, u in enumerate(uris)]

    def _data_dir(self) -> str:
        from galerna.store.db import data_dir

        return self.settings.daemon.data_dir or self.settings.enactment.data_dir or str(data_dir())

    def _driver(self, uri: str):
        from galerna.enact.libvirt_driver import LibvirtDriver
        from pathlib import Path

        if self._drivers is None:
            self._drivers = {}
        if uri not in self._drivers:
            safe = "".join(c if c.isalnum() else "_" for c in uri)[-60:]
            self._drivers[uri] = LibvirtDriver(uri, str(Path(self._data_dir()) / "state" / safe),
                                               prefix=self.settings.enactment.vm_prefix)
        return self._drivers[uri]

    def _open_drivers(self) -> None:
        with self.store.session() as s:
            rows = list(s.scalars(select(HostRow)))
        drivers = {}
        self.uri_of, self.name_of_uri = {}, {}  # the database is the truth: nothing is left from before
        for r in rows:
            if r.uri:
                drivers[r.uri] = self._driver(r.uri)
                self.uri_of[r.name] = r.uri
                self.name_of_uri[r.uri] = r.name
        self.executor = Executor(drivers, config=self.settings.enactment, on_result=self._on_result)

    def _host_op(self, action: str, name: str, uri: str | None = None, cpu: float | None = None,
                 memory: float | None = None, extra: dict | None = None) -> dict:
        attach = detach = None  # the hypervisor to watch, the URI to forget: only once the change is committed
        with self.store.session.begin() as s:
            row = s.get(HostRow, name)
            if action == "add":
                if row is not None:
                    raise Refused(f"host {name} already exists")
                if uri and self.executor is not None:
                    if uri in self.name_of_uri:
                        raise Refused(f"URI {uri} is already host {self.name_of_uri[uri]}")
                    try:
                        d = self._driver(uri)
                        info = d.host_info()
                    except Exception as e:  # noqa: BLE001 - any failure: the URI is not usable
                        if self._drivers is not None:
                            self._drivers.pop(uri, None)
                        raise Refused(f"cannot reach a hypervisor at {uri}: {e}", 422) from None
                    cpu = float(info.cpus) if cpu is None else cpu
                    memory = float(info.memory_mb) if memory is None else memory
                    attach = d
                if cpu is None or memory is None:
                    raise Refused("cpu and memory are needed for a host without a hypervisor URI", 422)
                pos = (s.scalar(select(func.max(HostRow.position))) or 0) + 1
                row = HostRow(name=name, uri=uri, cpu=cpu, memory=memory, extra=extra or {}, admin_state="up",
                              health="up", position=pos, created=self.clock())
                s.add(row)
                out = {"name": name}
            else:
                if row is None:
                    raise Refused(f"no host {name}", 404)
                if action == "remove":
                    i = self.names.index(name)
                    users = sorted(L.id for L in self.core.live if (L.hosts and i in L.hosts)
                                   or any(i in p.hosts for p in L.phases))
                    if users:
                        raise Refused(f"host {name} is used by lease(s) {', '.join(users[:10])}; disable it first")
                    if len(self.names) == 1:
                        raise Refused("the last host cannot be removed")
                    s.delete(row)
                    detach = row.uri
                    out = {"name": name, "removed": True}
                else:
                    row.admin_state = {"enable": "up", "disable": "disabled", "maintenance": "maintenance"}[action]
                    out = {"name": row.name}
        if attach is not None:
            self._attach_host(name, uri, attach)
        if detach:
            self._detach_host(name, detach)
        return out

    def _attach_host(self, name: str, uri: str, d) -> None:
        """A host added while the daemon runs: what ``_open_drivers`` and ``_start_monitor`` set up for every host
        at start-up, so that the running daemon and one restarted from the database agree. The executor, monitor
        and recovery get new dicts rather than changed ones: their threads may be iterating over the old."""
        self.uri_of[name], self.name_of_uri[uri] = uri, name
        ex = self.executor
        ex.drivers = {**ex.drivers, uri: d}
        ex.inventory.hosts[uri] = HostState.UP  # it has just answered (a removed host may have been left in error)
        if self.monitor is not None:
            self.monitor.drivers = {**self.monitor.drivers, uri: d}
            self._listen(uri, d)
        if self.recovery is not None:
            self.recovery.drivers = {**self.recovery.drivers, uri: d}
            self.recovery.error_since.pop(uri, None)
            self.recovery.fenced.discard(uri)

    def _detach_host(self, name: str, uri: str) -> None:
        """A removed host: everything kept about it by name or URI goes, so that the URI can be added again (under
        this name or another) and nothing polls, recovers or acts on it meanwhile. Its driver stays in the
        ``_drivers`` cache (a re-add reuses it), with its connection closed."""
        self.uri_of.pop(name, None)
        if self.name_of_uri.get(uri) == name:
            del self.name_of_uri[uri]
        self._abandon = [(vm, u) for vm, u in self._abandon if u != uri]
        ex = self.executor
        if ex is None:
            return
        d = ex.drivers.get(uri)
        ex.drivers = {u: x for u, x in ex.drivers.items() if u != uri}
        inv = ex.inventory
        left = inv.on_host(uri)  # no lease uses the host: at most copies given up on when it stopped answering
        if left:
            log.warning("host %s removed; Galerna no longer manages its VMs %s", name, sorted(r.name for r in left))
        for rec in left:
            inv.remove(rec.name)
        inv.hosts.pop(uri, None)
        if self.monitor is not None:
            self.monitor.drivers = {u: x for u, x in self.monitor.drivers.items() if u != uri}
            self.monitor.seen.pop(uri, None)
        if self.recovery is not None:
            self.recovery.drivers = {u: x for u, x in self.recovery.drivers.items() if u != uri}
            self.recovery.error_since.pop(uri, None)
            self.recovery.fenced.discard(uri)
        if d is not None:
            try:
                d.close()  # no keepalive or close event from a host Galerna no longer has
            except Exception:  # noqa: BLE001
                log.warning("closing the connection to %s failed", uri, exc_info=True)

    def _listen(self, uri: str, d) -> None:
        """Lifecycle and close events of ``d`` to the monitor, as ``Monitor.start`` does for the hosts of the start:
        once per driver (a driver kept from before the host was removed still has them)."""
        if uri in self._listening or self.monitor is None:
            return
        if self.monitor.listen(uri, d):
            self._listening.add(uri)

    def _site(self, s) -> tuple[Site, list[int]]:
        rows = list(s.scalars(select(HostRow).order_by(HostRow.position, HostRow.name)))
        hosts = [Host(r.name, {"cpu": r.cpu, "memory": r.memory, **(r.extra or {})}) for r in rows]
        disabled = [i for i, r in enumerate(rows) if not _placeable(r.admin_state, r.health)]
        return Site(hosts), disabled

    def _set_placeable(self, name: str, admin_state: str, health: str) -> bool:
        """Let the core place new leases on host ``name`` or not (admin state up and health not error). Leases
        already planned or running there keep their place. True when the host just became placeable again: the
        caller makes the core run a queue round (``core.advance``) so that waiting leases can use it."""
        if name not in self.names:
            return False
        i = self.names.index(name)
        return self.core.set_host_enabled(i, _placeable(admin_state, health), self.to_core(self.clock()))

    # ================================================================ rebuild
    def _rebuild(self) -> list[tuple[int, Action]]:
        """(Re)build the core from the database: every non-final lease at its persisted plan."""
        now = self.to_core(self.clock())
        finals = [x.value for x in S if x.final]
        with self.store.session() as s:
            site, disabled = self._site(s)
            rows = list(s.execute(select(LeaseRow.seq, LeaseRow.request, LeaseRow.state, LeaseRow.reason,
                                         LeaseRow.core).where(LeaseRow.state.not_in(finals)).order_by(LeaseRow.seq)))
            self.next_seq = (s.scalar(select(func.max(LeaseRow.seq))) or 0) + 1
        items = []
        for seq, req, state, reason, core in rows:
            items.append((snap.request_from_json(str(seq), req, self.epoch), state, reason,
                          snap.shift(core or {}, -self.epoch)))
        gone: dict[str, snap.Gone] = {}
        self.core = snap.restore(site, self.settings.config, now, items, disabled, gone)
        self._gone = gone  # history phases on removed hosts, by lease: written back with its snapshot
        self.names = [h.name for h in site.hosts]
        self.state_override: dict[str, str] = {}
        self._soon = []
        for lease in self.core.leases.values():
            if lease.state is S.ACTIVE and lease.phases and lease.phases[0].activity is A.RUN:
                self._watch(lease.id, lease.phases[0].end)
        # what came due while we were down, as one batch
        events = self.core.advance(self.to_core(self.clock()))
        return self._commit([], events, set())

    # ================================================================ reconcile
    def _reconcile(self) -> None:
        """Actions in flight at the last stop are checked against the hypervisors, not re-run."""
        if self.executor is None:
            return
        from galerna.enact.reconcile import Expected, reconcile

        expected = []
        for lease in self.core.leases.values():
            desired = self._desired(lease)
            if desired is None or lease.hosts is None:
                continue
            for i, h in enumerate(lease.hosts):
                uri = self.uri_of.get(self.names[h])
                if uri:
                    expected.append(Expected(self._spec(lease.req, i), uri, desired))
        with self.store.session.begin() as s:
            pending = list(s.scalars(select(ActionRow).where(ActionRow.status == "pending")))
            for a in pending:
                a.status = "reconciled"
                a.finished = self.clock()
        entries = reconcile(expected, self.executor, orphans=self.settings.enactment.recovery.orphans, timeout=120)
        self.reconciled = [(e.vm, e.verdict.value, self.name_of_uri.get(e.host, e.host)) for e in entries]
        woke = False
        with self.store.session.begin() as s:
            for uri, hs in self.executor.inventory.hosts.items():
                name = self.name_of_uri.get(uri)
                row = s.get(HostRow, name) if name else None
                if row is not None:
                    row.health = "up" if hs is HostState.UP else "error"
                    woke |= self._set_placeable(name, row.admin_state, row.health)
                    if row.health == "error":
                        self.host_event(name, False)
        if woke:  # a host that was in error at the last stop answers again: waiting leases may use it
            self._post("wake")
        log.info("reconciled with the hypervisors",
                 extra={"vms": len(entries), "pending_actions": len(pending),
                        "verdicts": sorted({e.verdict.value for e in entries})})

    def _desired(self, lease) -> Desired | None:
        st = lease.state
        if st in (S.ACTIVE, S.SUSPENDING, S.RESUMING) or (lease.booted and st in (S.SCHEDULED, S.READY)):
            return Desired.RUNNING
        if st in (S.SUSPENDED_PENDING, S.SUSPENDED_QUEUED, S.SUSPENDED_SCHEDULED, S.MIGRATING):
            return Desired.SUSPENDED
        return None

    def _spec(self, req: LeaseRequest, i: int) -> VMSpec:
        return VMSpec.from_lease(req, i, prefix=self.settings.enactment.vm_prefix, network=None)

    # ================================================================ loop
    def _wake_at(self) -> float:
        t = self.core.next_event_time()
        t = inf if t == inf else t + self.epoch
        if self._soon:
            t = min(t, self._soon[0][0])
        return t

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._inbox and not self._stop:
                    wait = self._wake_at() - self.clock()
                    if wait <= 0:
                        break
                    self._cond.wait(None if wait == inf else min(wait, 3600.0))
                if self._stop:
                    return
                batch, self._inbox = self._inbox, []
            try:
                self._batch(batch)
            except Exception as e:  # noqa: BLE001
                log.exception("batch failed; rebuilding the scheduler from the database")
                for op in batch:
                    if op.future is not None and not op.future.done():
                        op.future.set_exception(Refused(f"internal error: {e}", 503))
                try:
                    self._rebuild()
                except Exception:  # noqa: BLE001
                    log.exception("rebuild failed")

    def _batch(self, batch: list[_Op]) -> None:
        self.batches += 1
        core = self.core
        now = self.clock()
        t = self.to_core(now)
        events: list[Event] = []
        new: list[tuple[_Op, LeaseRequest, dict]] = []
        answers: list[tuple[_Op, Any]] = []
        touched: set[str] = set()
        rebuild = False
        events += core.advance(t)
        for op in batch:
            try:
                k = op.kind
                if k == "submit":
                    req = self._request(op.args, t)
                    events += core.submit(req, t)
                    new.append((op, req, op.args))
                    answers.append((op, req.id))
                elif k == "cancel":
                    lid = op.args["lease_id"]
                    lease = core.leases.get(lid)
                    if lease is None or lease.state.final:
                        raise Refused("the lease is already in a final state")
                    events += core.cancel(lid, t, op.args.get("reason", "cancelled by its owner"))
                    touched.add(lid)
                    answers.append((op, lid))
                elif k == "finished":  # the lease's VMs stopped on their own (Haizea's EVENT_END_VM)
                    lid = op.args["lease_id"]
                    lease = core.leases.get(lid)
                    if lease is None or lease.state.final:
                        raise Refused("the lease is already in a final state")
                    if not (lease.phases and lease.phases[0].activity is A.RUN and lease.phases[0].started):
                        raise Refused(f"lease {lid} is not running (state {lease.state.value})")
                    events += core.vms_finished(lid, t)
                    touched.add(lid)
                    answers.append((op, lid))
                elif k == "end":
                    lid = op.args["lease_id"]
                    if lid not in core.leases:
                        raise Refused("the lease is already in a final state")
                    try:
                        events += snap.change_end(core, lid, self.to_core(op.args["end"]), t)
                    except snap.UpdateRefused as e:
                        raise Refused(str(e)) from None
                    touched.add(lid)
                    answers.append((op, lid))
                elif k == "host":
                    answers.append((op, self._host_op(**op.args)))
                    rebuild = True
                elif k == "health":
                    self._health(op.args["uri"], op.args["up"], t)
                elif k == "wake":
                    pass  # nothing but the batch's core.advance
                elif k == "recovered":
                    lid = op.args["lease_id"]
                    if op.args["step"] == "requeue":  # recovery gave the VM up: the core places the lease again
                        events += self._outage_requeue(lid, op.args["host"], t, touched)
                    elif lid in core.leases:
                        self._extra.append({"lease_seq": int(lid), "time": now, "kind": "recovery",
                                            "detail": f"{op.args['step']} {op.args['vm']} on {op.args['host']}"
                                                      + (f": {op.args['detail']}" if op.args.get("detail") else ""),
                                            "state": self._state(lid), "hosts": [op.args["host"]]})
                elif k == "result":
                    events += self._result(op.args["result"], t, touched)
                elif k == "fail":
                    lid = op.args["lease_id"]
                    if lid in core.leases and not core.leases[lid].state.final:
                        events += core.cancel(lid, t, op.args["reason"])
                        self.state_override[lid] = S.FAILED.value
                        touched.add(lid)
                else:
                    raise ValueError(f"unknown operation {k}")
            except Refused as e:
                answers.append((op, e))
            except (ValueError, KeyError) as e:
                answers.append((op, Refused(str(e), 422)))
        events += core.advance(t)
        self._new_rows = {}
        actions = self._commit(new, events, touched)
        for op, value in answers:
            if op.kind == "submit" and not isinstance(value, Exception):
                value = lease_view(self._new_rows[value])
            if op.future is None:
                continue
            if isinstance(value, Exception):
                op.future.set_exception(value)
            else:
                op.future.set_result(value)
        self._enact(actions)
        self._notify(events, now)
        if rebuild:
            self._enact(self._rebuild())

    def _request(self, a: dict, t: float) -> LeaseRequest:
        seq = self.next_seq
        self.next_seq += 1
        rtype = LeaseType(a["type"])
        start = a.get("start")
        deadline = a.get("deadline")
        if rtype is LeaseType.IM or rtype is LeaseType.BE:
            start = None
        req = LeaseRequest(
            id=str(seq), type=rtype, submit=t, duration=a["duration"], nodes=tuple(a["nodes"]),
            start=None if start is None else self.to_core(start),
            deadline=None if deadline is None else self.to_core(deadline),
            preemptible=a.get("preemptible", True), image=a.get("image"), tenant=a.get("tenant"),
            extra={"name": a["name"]} if a.get("name") else {},
        )
        self.core.site.vector({k: v for n in req.nodes for k, v in n.items()})  # unknown resource: ValueError
        return req

    # ================================================================ persistence
    def _commit(self, new: list, events: list[Event], touched: set[str]) -> list[tuple[int, Action]]:
        """Write the batch in one transaction; returns the actions to hand to the executor.

        SQLAlchemy Core statements on one connection (executemany per table), not the ORM: the rows are
        plain dicts already, and the ORM's unit of work cost more than the database did.
        """
        core, epoch, names = self.core, self.epoch, self.names
        now = self.clock()
        ids = set(touched) | {e.lease_id for e in events}
        new_ids = {req.id for _, req, _ in new}
        actions = self._actions(events)
        with self.store.engine.begin() as c:
            if new:
                rows = [self._row(core.leases[req.id], now) | {
                    "seq": int(req.id), "submitted": req.submit + epoch, "tenant": req.tenant, "name": a.get("name"),
                    "type": req.type.value, "request": snap.request_to_json(req, epoch)} for _, req, a in new]
                c.execute(_LEASES.insert(), rows)
                self._new_rows = {str(r["seq"]): r for r in rows}
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
                       "state": S.PENDING.value, "hosts": []} for _, req, _ in new]
            evrows += self._extra
            self._extra = []
            last = {e.lease_id: i for i, e in enumerate(events)}
            evrows += [{"lease_seq": int(e.lease_id), "time": e.time + epoch, "kind": e.notice.value,
                        "detail": self._human(e.detail), "hosts": [names[h] for h in e.hosts],
                        "state": self._state(e.lease_id) if last[e.lease_id] == i else _event_state(e, self._state(e.lease_id))}
                       for i, e in enumerate(events)]
            if evrows:
                c.execute(_EVENTS.insert(), evrows)
            out = []
            for lid, a in actions:
                row = {"lease_seq": int(lid), "kind": a.kind.value, "vm": a.vm,
                       "host": self.name_of_uri.get(a.host, a.host),
                       "dest": a.dest and self.name_of_uri.get(a.dest, a.dest), "status": "pending", "created": now}
                out.append((c.execute(_ACTIONS.insert(), row).inserted_primary_key[0], a))
        return out

    def _human(self, text: str) -> str:
        """Core times in a reason ("at 7", "deadline 3600") as ISO 8601 instants."""
        if not text or not any(w in text for w in ("at ", "deadline ", "start ", "now ")):
            return text
        return _TIMES.sub(lambda m: m.group(1) + ts(float(m.group(2)) + self.epoch), text)

    def _state(self, lid: str) -> str:
        return self.state_override.get(lid) or self.core.leases[lid].state.value

    def _row(self, lease, now: float) -> dict:
        gone = self._gone.get(lease.id, ())
        start, end = snap.planned_window(lease, self.epoch, gone)
        return {"seq": int(lease.id), "state": self._state(lease.id), "reason": self._human(lease.reason),
                "core": snap.snapshot(lease, self.names, self.epoch, gone), "start": start, "end": end,
                "updated": now}

    # ================================================================ enactment
    def _actions(self, events: list[Event]) -> list[tuple[str, Action]]:
        if self.executor is None:
            return []
        out = []
        for e in events:
            lease = self.core.leases[e.lease_id]
            hosts = [self.uri_of.get(self.names[h]) for h in e.hosts]
            if e.notice is Notice.PHASE_STARTED:
                if e.detail == A.BOOT.value or (e.detail == A.RUN.value and not self._was_running(lease, e)):
                    out += [(e.lease_id, Action.deploy(self._spec(lease.req, i), u)) for i, u in enumerate(hosts) if u]
                elif e.detail == A.SUSPEND.value:
                    out += [(e.lease_id, Action(Op.SUSPEND, self._vm(lease, i), u, lease_id=e.lease_id,
                                                tenant=lease.req.tenant)) for i, u in enumerate(hosts) if u]
                elif e.detail == A.RESUME.value:
                    out += [(e.lease_id, Action(Op.RESUME, self._vm(lease, i), u, lease_id=e.lease_id,
                                                tenant=lease.req.tenant)) for i, u in enumerate(hosts) if u]
                elif e.detail == A.MIGRATE.value:
                    old = lease.history[-1].hosts if lease.history else e.hosts
                    for i, u in enumerate(hosts):
                        src = self.uri_of.get(self.names[old[i]])
                        if u and src and src != u:
                            out.append((e.lease_id, Action(Op.MIGRATE, self._vm(lease, i), src, dest=u,
                                                           lease_id=e.lease_id, tenant=lease.req.tenant)))
            elif e.notice in (Notice.DONE, Notice.CANCELLED) or (e.notice is Notice.PREEMPTED and e.detail == "requeue"):
                where = e.hosts or self._vm_hosts(lease)
                if not where:
                    continue
                kind = Op.SHUTDOWN if e.notice is Notice.DONE else Op.DESTROY
                for i, h in enumerate(where):
                    u = self.uri_of.get(self.names[h])
                    if u and self.executor.inventory.hosts.get(u) is HostState.ERROR:
                        # its host does not answer: recovery destroys the VM once it does (and a deploy of the same
                        # VM elsewhere does not wait behind a call to a dead host)
                        self._abandon.append((self._vm(lease, i), u))
                    elif u:
                        out.append((e.lease_id, Action(kind, self._vm(lease, i), u, lease_id=e.lease_id,
                                                       tenant=lease.req.tenant)))
        return out

    def _vm_hosts(self, lease) -> tuple[int, ...]:
        ran = [p for p in snap.full_history(lease, self._gone.get(lease.id, ()))
               if (p.activity if isinstance(p, Phase) else A(p["activity"])) in (A.BOOT, A.RUN, A.RESUME, A.SUSPEND)]
        # last on a host removed since: no VM of it is left anywhere Galerna can reach
        return ran[-1].hosts if ran and isinstance(ran[-1], Phase) else ()

    def _was_running(self, lease, e: Event) -> bool:
        """A run phase right after a boot or resume of the same lease: its VMs already exist."""
        prev = lease.history[-1] if lease.history else None
        return prev is not None and prev.activity in (A.BOOT, A.RESUME, A.MIGRATE) and prev.end >= e.time - 1e-6

    def _vm(self, lease, i: int) -> str:
        return vm_name(lease.id, i, self.settings.enactment.vm_prefix)

    def _enact(self, actions: list[tuple[int, Action]]) -> None:
        if self.executor is None:
            return
        inv = self.executor.inventory
        for vm, uri in self._abandon:
            rec = inv.get(vm)
            if rec is not None and rec.host == uri:
                inv.update(vm, desired=Desired.ABSENT)
        self._abandon = []
        for row_id, a in actions:
            self._action_rows[a.id] = row_id
            if a.lease_id is not None:
                self._action_gen[a.id] = self._gen.get(a.lease_id, 0)
            self.executor.submit(a)

    def _on_result(self, r: ActionResult) -> None:
        self._post("result", result=r)

    def _result(self, r: ActionResult, t: float, touched: set[str]) -> list[Event]:
        row_id = self._action_rows.pop(r.action.id, None)
        gen = self._action_gen.pop(r.action.id, None)
        with self.store.session.begin() as s:
            if row_id is not None:
                s.execute(update(ActionRow).where(ActionRow.id == row_id).values(
                    status="done" if r.ok else "failed", finished=self.clock(), error=r.error))
        if r.ok or r.action.lease_id is None:
            return []
        lid = r.action.lease_id
        lease = self.core.leases.get(lid)
        kind = r.action.kind
        if lease is None or lease.state.final or kind in (Op.DESTROY, Op.SHUTDOWN):
            return []
        if gen is not None and gen != self._gen.get(lid, 0):
            return []  # an action of a run the lease already lost (requeued since)
        if r.rescheduled_to:
            return []  # the executor deploys it elsewhere
        host = self.name_of_uri.get(r.action.host, r.action.host)
        reason = f"{kind.value} failed on {host}: {r.error}"
        policy = self._policy(kind)
        if policy is not FailureOutcome.FAIL and kind in (Op.DEPLOY, Op.START, Op.RESUME):
            if self._gen.get(lid, 0) >= MAX_ENACT_REQUEUES:
                reason += f" (gave up after {MAX_ENACT_REQUEUES} requeues)"
            else:
                avoid = [self.names.index(host)] if policy is FailureOutcome.RESCHEDULE and host in self.names else []
                events = self._requeue(lid, t, reason, avoid, touched, "enactment-failed",
                                       f"{reason}; {policy.value}", host, policy.value)
                if events is not None:
                    return events
        return self._fail(lid, t, reason, touched)

    def _fail(self, lid: str, t: float, reason: str, touched: set[str]) -> list[Event]:
        """The lease fails (state ``failed``, with ``reason``); its VMs are destroyed."""
        lease = self.core.leases[lid]
        self.state_override[lid] = S.FAILED.value
        touched.add(lid)
        self.broker.publish({"event": "lease.failed", "lease": lid, "tenant": lease.req.tenant, "reason": reason,
                             "time": t + self.epoch})
        return self.core.cancel(lid, t, reason)

    def _requeue(self, lid: str, t: float, reason: str, avoid: list[int], touched: set[str], kind: str, detail: str,
                 host: str, policy: str) -> list[Event] | None:
        """Send a lease whose VMs were lost or could not start back through the core's queue (its run is lost; a
        resuming lease keeps its progress), never again on the hosts in ``avoid``. None when the core cannot requeue
        it (no started phase a hypervisor can fail).

        An advance reservation must not move: it may only restart now, elsewhere, and end when it was to end. When
        the core cannot start it at once it fails, with the reason.
        """
        lease = self.core.leases[lid]
        state = self._state(lid)
        ar_end = None
        if lease.type is LeaseType.AR:
            runs = [p for p in lease.phases if p.activity is A.RUN]
            ar_end = runs[-1].end if runs else None
        events = snap.requeue(self.core, lid, t, avoid, reason)
        if events is None:
            return None
        self._gen[lid] = self._gen.get(lid, 0) + 1
        self._extra.append({"lease_seq": int(lid), "time": t + self.epoch, "kind": kind, "detail": detail,
                            "state": state, "hosts": [host]})
        touched.add(lid)
        self.broker.publish({"event": "lease.requeued", "lease": lid, "tenant": lease.req.tenant,
                             "reason": reason, "policy": policy, "time": t + self.epoch})
        if ar_end is not None:
            events += self._hold_ar(lid, t, ar_end, reason, touched)
        return events

    def _hold_ar(self, lid: str, t: float, end: float, reason: str, touched: set[str]) -> list[Event]:
        """After a requeue: an AR that restarted now keeps its end; one that did not fails."""
        lease = self.core.leases[lid]
        if lease.state.final:
            return []
        if lease.phases and lease.phases[0].started and end > t:
            runs = [p for p in lease.phases if p.activity is A.RUN]
            if runs and runs[-1].end > end + 1e-6:
                try:
                    return snap.change_end(self.core, lid, end, t)
                except snap.UpdateRefused:
                    log.warning("AR %s restarted elsewhere but could not keep its end", lid)
            return []
        why = (f"{reason}; an advance reservation cannot be moved and no other host can run it now"
               if end > t else f"{reason}; the advance reservation was over")
        return self._fail(lid, t, why, touched)

    # ================================================================ recovery: reschedule
    def _outage_requeue(self, lid: str, host: str, t: float, touched: set[str]) -> list[Event]:
        """``recovery.mode = "reschedule"``: the host has been in error longer than the grace period, was fenced (the
        fencing command, when configured, ran and succeeded) and recovery gave up its VMs. The lease goes back
        through the core's queue, never again on that host, and starts elsewhere cold. Once per lease: when the
        last of its VMs on that host has been given up."""
        lease = self.core.leases.get(lid)
        if lease is None or lease.state.final or host not in self.names:
            return []
        h = self.names.index(host)
        if lease.hosts is None or h not in lease.hosts:
            return []  # already requeued (another VM of the lease), or it has moved on
        uri = self.uri_of.get(host)
        if self.executor is not None and any(r.spec.lease_id == lid and r.desired is not Desired.ABSENT
                                             for r in self.executor.inventory.on_host(uri)):
            return []  # recovery has not given up all its VMs there yet: the last one's event requeues
        grace = self.settings.enactment.recovery.grace_period
        reason = f"host {host} did not answer for more than {grace:g} s"
        events = self._requeue(lid, t, reason, [h], touched, "recovery",
                               f"reschedule: {reason}; requeued, never again on {host}", host, "reschedule")
        if events is None:
            return self._fail(lid, t, f"{reason}; its VMs are lost", touched)
        return events

    def _policy(self, kind: Op) -> FailureOutcome:
        f = self.settings.enactment.failure
        return {Op.DEPLOY: f.deploy, Op.START: f.deploy, Op.RESUME: f.resume, Op.MIGRATE: f.migrate,
                Op.SUSPEND: f.suspend}.get(kind, f.other)

    # ================================================================ monitoring
    def _start_monitor(self) -> None:
        """The periodic host monitor (lifecycle events + a poll every ``recovery.reconcile_interval``) and recovery."""
        if self.executor is None:
            return
        from galerna.enact.monitor import Monitor
        from galerna.enact.recovery import RecoveryManager

        rc = self.settings.enactment.recovery
        ex = self.executor
        self.recovery = RecoveryManager(ex.drivers, ex.inventory, ex, rc, on_event=self._on_recovery)
        self.monitor = Monitor(ex.drivers, ex.inventory, interval=rc.reconcile_interval,
                               poll_timeout=min(10.0, max(1.0, rc.reconcile_interval)),
                               after_poll=lambda: self.recovery.tick(self.monitor.seen))
        self.monitor.on_host_change(self.recovery.host_changed)
        self.monitor.on_host_change(lambda uri, old, new: self._post("health", uri=uri, up=new is HostState.UP))
        self.monitor.start()
        self._listening = set(ex.drivers)  # Monitor.start listens to these

    def _on_recovery(self, ev) -> None:
        log.warning("recovery", extra={"step": ev.step.value, "vm": ev.vm, "lease": ev.lease_id,
                                       "host": self.name_of_uri.get(ev.host, ev.host), "detail": ev.detail})
        if ev.lease_id is not None:
            self._post("recovered", lease_id=ev.lease_id, step=ev.step.value, vm=ev.vm,
                       host=self.name_of_uri.get(ev.host, ev.host), detail=ev.detail)

    def _health(self, uri: str, up: bool, t: float) -> None:
        name = self.name_of_uri.get(uri)
        if name is None:
            return
        with self.store.session.begin() as s:
            row = s.get(HostRow, name)
            if row is None or row.health == ("up" if up else "error"):
                return
            row.health = "up" if up else "error"
            admin_state = row.admin_state
        self._set_placeable(name, admin_state, row.health)
        if name in self.names:
            h = self.names.index(name)
            detail = f"host {name} answers again" if up else f"host {name} does not answer; its VMs are unknown"
            for lease in self.core.live:
                if lease.hosts is not None and h in lease.hosts and self._desired(lease) is not None:
                    self._extra.append({"lease_seq": int(lease.id), "time": t + self.epoch,
                                        "kind": "host-up" if up else "host-down", "detail": detail,
                                        "state": self._state(lease.id), "hosts": [name]})
        self.host_event(name, up)

    # ================================================================ notifications
    def _watch(self, lid: str, run_end_core: float) -> None:
        end = run_end_core + self.epoch
        at = end - self.settings.daemon.ending_soon_minutes * 60
        heapq.heappush(self._soon, (at, lid, end))

    def _notify(self, events: list[Event], now: float) -> None:
        pub = self.broker.publish
        core = self.core
        while self._soon and self._soon[0][0] <= now:
            _, lid, end = heapq.heappop(self._soon)
            lease = core.leases.get(lid)
            if lease is not None and lease.state is S.ACTIVE and lease.phases and \
                    lease.phases[0].activity is A.RUN and abs(lease.phases[0].end + self.epoch - end) < 1e-3:
                pub({"event": "lease.ending_soon", "lease": lid, "tenant": lease.req.tenant, "end": end, "time": now})
        for e in events:
            lease = core.leases[e.lease_id]
            base = {"lease": e.lease_id, "tenant": lease.req.tenant, "time": e.time + self.epoch,
                    "hosts": [self.names[h] for h in e.hosts]}
            name = None
            if e.notice is Notice.PHASE_STARTED and e.detail == A.RUN.value:
                prev = lease.history[-1] if lease.history else None
                self._watch(e.lease_id, e.until)
                name = "lease.resumed" if prev is not None and prev.activity is A.RESUME else "lease.started"
                if name == "lease.resumed":
                    name = None  # announced when the resume phase ended
            elif e.notice is Notice.PHASE_ENDED and e.detail == A.RESUME.value:
                name = "lease.resumed"
            elif e.notice is Notice.PHASE_ENDED and e.detail == A.SUSPEND.value:
                name = "lease.suspended"
            elif e.notice is Notice.DONE:
                name = "lease.ended"
            elif e.notice is Notice.CANCELLED:
                name = "lease.failed" if lease.state is S.FAILED or self.state_override.get(e.lease_id) == "failed" \
                    else "lease.cancelled"
                if self.state_override.get(e.lease_id) == "failed":
                    name = None  # published with the hypervisor's reason already
                base["reason"] = e.detail
            elif e.notice is Notice.REJECTED:
                name = "lease.rejected"
                base["reason"] = e.detail
            elif e.notice is Notice.PREEMPTED:
                name = "lease.preempted"
                base["detail"] = e.detail
            if name:
                pub({"event": name, **base})
            if e.notice is Notice.PHASE_STARTED and e.detail == A.RUN.value and self.settings.daemon.ending_soon_minutes:
                pass

    def host_event(self, name: str, up: bool) -> None:
        self.broker.publish({"event": "host.up" if up else "host.down", "host": name, "time": self.clock()})

    # ================================================================ Reads for the API (any thread)
    # The server's threads read the daemon here, never the core or the executor directly. What these read is
    # safe from another thread without a lock: the scheduler thread replaces ``self.core`` whole on a rebuild
    # (one reference store) and never changes a Site once built; ``len`` of the core's live set is one atomic
    # read; ``uri_of`` and the executor's ``drivers`` are read with one ``get`` (attach/detach replace or set
    # single keys); the inventory takes its own lock. A value may be stale by the next batch, never torn.
    def resource_types(self) -> tuple[str, ...]:
        """The resource types some host provides, in site order: a request for another one is refused."""
        return self.core.site.resource_types

    def counts(self) -> tuple[int, int]:
        """(leases not yet in a final state, hosts), for the health check."""
        core = self.core
        return len(core.live), len(core.site)

    def host_vms(self, name: str) -> list[tuple[str, str, str | None]]:
        """``(VM name, state, lease id or None)`` of what host ``name``'s hypervisor runs now, Galerna's VMs and
        others. When the monitor cannot see the host: the VMs Galerna believes run there, in the state it last
        observed. Blocking (it asks the hypervisor): call it from a worker thread, not the event loop."""
        uri = self.uri_of.get(name)
        ex = self.executor
        driver = None if uri is None or ex is None else ex.drivers.get(uri)
        if driver is None:
            raise Refused(f"no hypervisor for host {name}", 404)
        if ex.inventory.hosts.get(uri) == HostState.ERROR:
            return [(r.name, r.observed.value, r.spec.lease_id) for r in ex.inventory.on_host(uri)]
        try:
            vms = driver.list()
        except Exception as e:  # noqa: BLE001 - whatever the hypervisor says, the caller gets it as a refusal
            raise Refused(f"the hypervisor of host {name} does not answer: {e}", 409) from None
        return [(v.name, v.state.value, v.lease_id) for v in vms]
