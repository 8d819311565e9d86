"""The daemon's service loop: the scheduling core on the real clock, with durable state.

One thread owns the :class:`LeaseScheduler`. Everything that changes it — lease requests, cancellations, updates,
host changes, results from the hypervisors — arrives as a typed operation (:mod:`galerna.daemon.ops`) in the inbox;
API handlers wait on a future for the decision. The loop sleeps on a condition until the earliest of the core's
next event, the next "ending soon" notice, or a new operation: there is no polling interval.

Each wake-up handles the whole inbox as one *batch*: every operation applies itself, the core runs its queue round,
and the batch is written in one transaction (:mod:`galerna.daemon.journal`). Only after it commits are the callers
answered and the actions handed to the executor (:mod:`galerna.daemon.enactment`). Hosts, their drivers and health
are :mod:`galerna.daemon.hosts`; notifications :mod:`galerna.daemon.notify`.
"""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future
from math import inf
from typing import Any, Callable, Sequence

from sqlalchemy import func, select

from galerna.enact.driver import HostState
from galerna.enact.executor import Action, Executor
from galerna.model.state import LeaseState as S
from galerna.schedule.lease import Activity as A
from galerna.schedule.plan import Event
from galerna.schedule.scheduler import LeaseScheduler
from galerna.store.db import Store
from galerna.store.dbfile import DatabaseFile
from galerna.store.ownership import sqlite_path
from galerna.store.probe import short_error
from galerna.store.models import LeaseRow

from galerna.daemon import incident, ops, snapshot as snap
from galerna.daemon.deployment import Deployment
from galerna.daemon.enactment import Enactment
from galerna.daemon.errors import ErrorKind, Refused
from galerna.daemon.fence import Fence
from galerna.daemon.hosts import HostRegistry
from galerna.daemon.inlet import check_request
from galerna.daemon.journal import Journal
from galerna.daemon.notify import Broker, Notifier
from galerna.daemon.settings import Settings
from galerna.daemon.state import Live

__all__ = ["Refused", "Service"]

log = logging.getLogger("galerna.daemon")


class Service:
    def __init__(self, store: Store, settings: Settings | None = None, *, clock: Callable[[], float] = time.time,
                 drivers: dict | None = None):
        self.store = store
        self.settings = settings or Settings()
        self.clock = clock
        self.broker = Broker()
        self.live = Live()
        self.hosts = HostRegistry(store, self.settings, clock, drivers)
        self.notifier = Notifier(self.broker, self.settings.daemon.ending_soon_minutes)
        self.journal = Journal(store, clock, self.live, self.hosts)
        self.enactment = Enactment(self.live, self.hosts, self.journal, self.notifier, self.settings)
        self._cond = threading.Condition()
        self._inbox: list[ops.Op] = []
        self._stop = False
        self._thread: threading.Thread | None = None
        self.started = threading.Event()
        self.reconciled: list[tuple[str, str, str]] = []  # (VM, verdict, host) at the last start
        self.deployment = Deployment(None, False)  # read from the database at load
        self.batches = 0
        self.bounds = self.settings.daemon.lease_bounds()
        self.fence = Fence()  # closed: writes are refused (database file gone, ownership lost)
        self.journal.guard = self.fence.check
        self.last_failure: tuple[float, str] | None = None  # (time, the database's words) of the last failed batch
        self._queued_at: float | None = None  # monotonic time the oldest operation in the inbox was queued
        self._batch_queued_at: float | None = None  # the same for the batch being handled

    # ================================================================ life cycle
    def load(self) -> None:
        """The core rebuilt from the database: the clock's epoch, the hosts, every live lease at its plan."""
        epoch = self.store.get_meta("epoch")
        if epoch is None:
            epoch = str(float(int(self.clock())))
            self.store.set_meta("epoch", epoch)
        self.live.epoch = float(epoch)
        self.deployment = Deployment.load(self.store)
        self.enactment.deployment = self.deployment.id
        self.hosts.setup(on_result=lambda r: self._post(ops.Result(r)))
        if self.hosts.executor is not None:
            self.hosts.executor.deployment = self.deployment.id
        self._rebuild()

    def start(self) -> None:
        path = sqlite_path(self.store.url)
        if path:
            self.fence.add(DatabaseFile(path).problem)
        self.load()
        if self.hosts.executor is not None:
            self._reconcile()
            self.hosts.start_monitor(on_health=lambda uri, up: self._post(ops.Health(uri, up)),
                                     on_recovery=self._on_recovery, deployment=self.deployment.id)
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
                op.future.set_exception(Refused("the daemon is stopping", ErrorKind.UNAVAILABLE))
        self.hosts.stop()
        log.info("scheduler stopped")

    # ================================================================ operations (any thread)
    def send(self, op: ops.Op) -> Future:
        """Queue ``op`` for the scheduler thread; the future resolves after the batch that applied it committed."""
        fut: Future = Future()
        op.future = fut
        with self._cond:
            if self._stop:
                fut.set_exception(Refused("the daemon is stopping", ErrorKind.UNAVAILABLE))
                return fut
            if self.fence.reason:
                fut.set_exception(self.fence.refusal())
                return fut
            self._queued_at = self._queued_at or time.monotonic()
            self._inbox.append(op)
            self._cond.notify()
        return fut

    def submit(self, **request: Any) -> Future:
        """A new lease (see :class:`ops.Submit` for the fields); resolves to its view. An unknown or missing field, or
        a value outside the lease bounds (:mod:`galerna.model.bounds`): refused as invalid, naming it, before anything
        is queued or committed."""
        try:
            op = ops.checked(ops.Submit, request)
            check_request(self.bounds, request)
        except Refused as e:
            fut: Future = Future()
            fut.set_exception(e)
            return fut
        return self.send(op)

    def cancel(self, lease_id: str, reason: str = "cancelled by its owner") -> Future:
        return self.send(ops.Cancel(lease_id, reason))

    def finished(self, lease_id: str) -> Future:
        return self.send(ops.Finished(lease_id))

    def change_end(self, lease_id: str, end: float) -> Future:
        return self.send(ops.ChangeEnd(lease_id, end))

    def change_host(self, action: str, name: str, **fields: Any) -> Future:
        return self.send(ops.HostChange(action, name, **fields))

    def fail(self, lease_id: str, reason: str) -> Future:
        return self.send(ops.Fail(lease_id, reason))

    def _post(self, op: ops.Op) -> None:
        """An operation from inside the daemon (executor, monitor, recovery): nobody waits for an answer."""
        with self._cond:
            self._queued_at = self._queued_at or time.monotonic()
            self._inbox.append(op)
            self._cond.notify()

    def loop_lag(self) -> float:
        """How long the oldest operation not yet answered has waited for the scheduler thread (0: none waits)."""
        since = [t for t in (self._batch_queued_at, self._queued_at) if t is not None]
        return time.monotonic() - min(since) if since else 0.0

    def to_core(self, t: float) -> float:
        return self.live.to_core(t)

    # ================================================================ rebuild
    def _rebuild(self, fresh: Sequence[str] = ()) -> list[tuple[int, Action]]:
        """(Re)build the core from the database: every non-final lease at its persisted plan. Hosts in ``fresh``
        (just added or enabled) are capacity given back, so that waiting leases and reservations can move onto them."""
        live = self.live
        now = live.to_core(self.clock())
        finals = [x.value for x in S if x.final]
        with self.store.session() as s:
            site, disabled = self.hosts.site(s)
            rows = list(s.execute(select(LeaseRow.seq, LeaseRow.request, LeaseRow.state, LeaseRow.reason,
                                         LeaseRow.core).where(LeaseRow.state.not_in(finals)).order_by(LeaseRow.seq)))
            live.next_seq = (s.scalar(select(func.max(LeaseRow.seq))) or 0) + 1
        items = snap.readable(rows, live.epoch)
        gone: dict[str, snap.Gone] = {}
        live.core = snap.restore(site, self.settings.config, now, items, disabled, gone)
        live.gone = gone  # history phases on removed hosts, by lease: written back with its snapshot
        for name in fresh:
            i = self.hosts.index(name)
            if i is not None and i not in disabled:
                live.core.set_host_enabled(i, False, now)
                live.core.set_host_enabled(i, True, now)  # back: compression and a queue round at the advance below
        self.notifier.clear()
        for lease in live.core.leases.values():
            if lease.state is S.ACTIVE and lease.phases and lease.phases[0].activity is A.RUN:
                self.notifier.watch(lease.id, lease.phases[0].end + live.epoch)
        # what came due while we were down, as one batch
        events = live.core.advance(live.to_core(self.clock()))
        return self._commit([], events, set())

    def _reconcile(self) -> None:
        """Actions in flight at the last stop are checked against the hypervisors, not re-run; host health from
        what they answered."""
        self.reconciled = self.enactment.reconcile()
        self.deployment.found(self.enactment.foreign, self.hosts.name)
        down, woke = self.hosts.health_after_reconcile(self.core, self.to_core(self.clock()))
        for name in down:
            self.notifier.host(name, False, self.clock())
        if woke:  # a host that was in error at the last stop answers again: waiting leases may use it
            self._post(ops.Wake())

    def destroy_foreign(self, names: list[str] | None) -> list[str]:
        """The operator's action on foreign VMs (see :mod:`galerna.daemon.deployment`). Blocking: a worker thread."""
        return self.deployment.destroy(self.executor, names)

    def _on_recovery(self, ev) -> None:
        host = self.hosts.name(ev.host)
        log.warning("recovery", extra={"step": ev.step.value, "vm": ev.vm, "lease": ev.lease_id, "host": host,
                                       "detail": ev.detail})
        if ev.lease_id is not None:
            self._post(ops.Recovered(ev.lease_id, ev.step.value, ev.vm, host, ev.detail))

    # ================================================================ loop
    def _wake_at(self) -> float:
        t = self.core.next_event_time()
        t = inf if t == inf else t + self.live.epoch
        return min(t, self.notifier.next_at())

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
                self._batch_queued_at, self._queued_at = self._queued_at, None
            try:
                self._batch(batch)
            except Exception as e:  # noqa: BLE001
                fenced = self.fence.reason is not None  # the fence logged it once; nothing to rebuild from
                if not fenced:
                    why = incident.report(log, f"a batch of {len(batch)} operation(s) failed; rebuilding the "
                                               "scheduler from the database", e)
                    self.last_failure = (time.time(), f"incident {why}: {short_error(e)}")
                for op in batch:
                    if op.future is not None and not op.future.done():
                        op.future.set_exception(self.fence.refusal() if fenced else
                                                Refused(incident.sentence(why), ErrorKind.UNAVAILABLE))
                if fenced:
                    continue
                try:
                    self._rebuild()
                except Exception as e2:  # noqa: BLE001 - the same cause again is not news: debug level
                    if incident.short_cause(e2) == incident.short_cause(e):
                        log.debug("the rebuild after incident %s failed the same way", why, exc_info=e2)
                    else:
                        incident.report(log, f"the rebuild after incident {why} failed", e2)

    def _batch(self, batch: list[ops.Op]) -> None:
        try:
            self._apply(batch)
        finally:
            self._batch_queued_at = None

    def _apply(self, batch: list[ops.Op]) -> None:
        self.batches += 1
        now = self.clock()
        ctx = ops.Batch(self.live, self.hosts, self.enactment, self.journal, self.notifier, now, self.to_core(now))
        ctx.events += self.core.advance(ctx.t)
        self.journal.keys.prefetch(batch)  # the batch's idempotency keys, in one read
        answers = [op.run(ctx) for op in batch]
        ctx.events += self.core.advance(ctx.t)
        actions = self._commit(ctx.new, ctx.events, ctx.touched)
        self._after_commit(batch, answers, ctx, actions, now)

    def _after_commit(self, batch: list[ops.Op], answers: list, ctx: ops.Batch, actions: list, now: float) -> None:
        """Everything after the commit, each step on its own: whatever one of them raises, the committed actions
        still reach the executor and every caller is answered with what was committed (never a 503 for a saved
        request, which the loop's handler would give)."""
        steps = [("hand-over", lambda: self.enactment.hand_over(actions))]
        steps += [(f"answer {op.kind}", lambda op=op, v=v: op.settle(v, ctx)) for op, v in zip(batch, answers)]
        steps.append(("notify", lambda: self.notifier.events(ctx.events, now, self.core, self.live.epoch,
                                                             self.hosts.names)))
        for what, step in steps:
            try:
                step()
            except Exception:  # noqa: BLE001 - one failing step must not drop the others
                log.exception("after the commit of batch %d: %s failed", self.batches, what)
        if ctx.rebuild:
            self.enactment.hand_over(self._rebuild(ctx.fresh))

    def _commit(self, new: list, events: list[Event], touched: set[str]) -> list[tuple[int, Action]]:
        """The batch in one transaction (the journal), with the actions its events call for."""
        return self.journal.commit(new, events, touched, self.enactment.actions(events))

    # ================================================================ reads for the API
    @property
    def core(self) -> LeaseScheduler:
        return self.live.core

    @property
    def epoch(self) -> float:
        return self.live.epoch

    @property
    def names(self) -> list[str]:
        return self.hosts.names

    @property
    def uri_of(self) -> dict[str, str]:
        return self.hosts.uri_of

    @property
    def name_of_uri(self) -> dict[str, str]:
        return self.hosts.name_of_uri

    @property
    def executor(self) -> Executor | None:
        return self.hosts.executor

    @property
    def monitor(self):
        return self.hosts.monitor

    @property
    def recovery(self):
        return self.hosts.recovery

    # ================================================================ Reads for the API (any thread)
    # The server's threads read the daemon here, never the core or the executor directly. What these read is
    # safe from another thread without a lock: the scheduler thread replaces ``self.core`` whole on a rebuild
    # (one reference store) and never changes a Site once built; ``len`` of the core's live set is one atomic
    # read; ``uri_of`` and the executor's ``drivers`` are read with one ``get`` (attach/detach replace or set
    # single keys); the inventory takes its own lock. A value may be stale by the next batch, never torn.
    def resource_types(self) -> tuple[str, ...]:
        """The resource types some host provides, in site order: a request for another one is refused."""
        return self.core.site.resource_types

    def enactment_state(self) -> tuple[str, str, int | None]:
        """(executor: running/closed/off, host monitor: running/stopped/off, hosts in error or None), for health."""
        ex, mon = self.hosts.executor, self.hosts.monitor
        executor = "off" if ex is None else ("closed" if getattr(ex, "_closed", False) else "running")
        thread = getattr(mon, "_thread", None)
        # a monitor never started (OpenNebula mode watches oned instead) is off; one whose thread ended, stopped
        monitor = "off" if mon is None or thread is None else ("running" if thread.is_alive() else "stopped")
        in_error = None if ex is None else sum(1 for s in ex.inventory.hosts.values() if s is HostState.ERROR)
        return executor, monitor, in_error

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
            raise Refused(f"no hypervisor for host {name}", ErrorKind.NOT_FOUND)
        if ex.inventory.host_state(uri) is HostState.ERROR:
            return [(r.name, r.observed.value, r.spec.lease_id) for r in ex.inventory.on_host(uri)]
        try:
            vms = driver.list()
        except Exception as e:  # noqa: BLE001 - whatever the hypervisor says, the caller gets it as a refusal
            raise Refused(f"the hypervisor of host {name} does not answer: {e}", ErrorKind.CONFLICT) from None
        return [(v.name, v.state.value, v.lease_id) for v in vms]
