"""Recovery from host outages.

A VM that should run but has not been seen running for ``grace_period``
seconds is recovered:

* its host is up again (the power-outage case): restarted in place, from its
  state file if it has one, else cold from its image;
* its host is still in error and the mode is ``reschedule``: the fencing
  command runs first (a non-zero exit stops everything: no VM may run twice),
  then the scheduler is asked for other hosts (it must honour accepted
  advance reservations) and the VMs are started cold there; VMs it cannot
  place are reported for requeueing;
* ``restart-in-place`` waits for the host; ``manual`` does nothing.

When a host comes back running a VM that was meanwhile started elsewhere,
that stale copy is destroyed, if it carries this deployment's id (a VM of
another deployment with the same name is left alone).
"""
from __future__ import annotations

import logging
import shlex
import subprocess
import threading
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Callable, Mapping, Protocol, Sequence

from galerna.enact.config import RecoveryConfig, RecoveryMode
from galerna.enact.driver import Driver, HostState, OperationKind as Op, VMSpec, VMState
from galerna.enact.executor import Action, ActionResult, Executor
from galerna.enact.identity import ours
from galerna.enact.inventory import Desired, Inventory, VMRecord

log = logging.getLogger(__name__)


class Step(StrEnum):
    RESTART_IN_PLACE = "restart-in-place"
    RESTORE_IN_PLACE = "restore-in-place"
    RESCHEDULED = "rescheduled"
    REQUEUE = "requeue"  # no host for it now: the daemon requeues the lease
    FENCING_FAILED = "fencing-failed"
    DESTROY_STALE = "destroy-stale"


@dataclass(frozen=True)
class RecoveryEvent:
    step: Step
    vm: str
    lease_id: str | None
    host: str
    target: str | None = None
    detail: str = ""


Fencer = Callable[[str, float], tuple[bool, str]]


class Rescheduler(Protocol):
    """Where to restart the VMs of a fenced host, for recovery used on its own. The daemon gives none: it sends the
    lease back through the core's queue instead (Step.REQUEUE), so the core alone places leases."""

    def reschedule(self, lease_id: str | None, vms: Sequence[VMSpec], avoid: Sequence[str], reason: str
                   ) -> Mapping[str, str] | None:
        """A new host URI for every VM, found without breaking any accepted advance reservation, or None when there
        is none now (recovery then reports the VMs for requeueing). ``avoid`` lists hosts that must not be used."""


def run_fencing_command(command: str) -> Fencer:
    """A fencer that runs ``command`` with ``{host}``/``{uri}`` replaced; success = exit status 0."""

    def fence(uri: str, timeout: float) -> tuple[bool, str]:
        from urllib.parse import urlsplit

        host = urlsplit(uri).hostname or "localhost"
        argv = [a.format(host=host, uri=uri) for a in shlex.split(command)]
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as e:
            return False, str(e)
        return p.returncode == 0, (p.stdout + p.stderr).strip()

    return fence


class RecoveryManager:
    def __init__(
        self,
        drivers: Mapping[str, Driver],
        inventory: Inventory,
        executor: Executor,
        config: RecoveryConfig | None = None,
        *,
        rescheduler: Rescheduler | None = None,
        fencer: Fencer | None = None,
        on_event: Callable[[RecoveryEvent], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        deployment: str | None = None,
    ):
        self.drivers = dict(drivers)
        self.inventory = inventory
        self.executor = executor
        self.config = config or RecoveryConfig()
        self.rescheduler = rescheduler
        if fencer is None and self.config.fencing_command:
            fencer = run_fencing_command(self.config.fencing_command)
        self.fencer = fencer
        self.on_event = on_event
        self.clock = clock
        self.deployment = deployment  # only VMs stamped with it are destroyed as stale (None: any)
        self.events: list[RecoveryEvent] = []
        self.error_since: dict[str, float] = {}
        self.down_since: dict[str, float] = {}  # VM -> when first seen not running on a host that answers
        self.fenced: set[str] = set()
        self._in_flight: set[str] = set()
        self._lock = threading.Lock()

    def attach(self, uri: str, driver: Driver) -> None:
        """A host added while running (new dicts: the monitor thread may be in a tick)."""
        self.drivers = {**self.drivers, uri: driver}
        self._forget_outage(uri)

    def detach(self, uri: str) -> None:
        self.drivers = {u: d for u, d in self.drivers.items() if u != uri}
        self._forget_outage(uri)

    def _forget_outage(self, uri: str) -> None:
        self.error_since.pop(uri, None)
        self.fenced.discard(uri)

    # called by the monitor
    def host_changed(self, uri: str, old: HostState, new: HostState) -> None:
        if new is HostState.ERROR:
            self.error_since.setdefault(uri, self.clock())
        else:
            self._forget_outage(uri)

    def _emit(self, ev: RecoveryEvent) -> None:
        self.events.append(ev)
        log.warning("recovery: %s %s on %s%s %s", ev.step.value, ev.vm, ev.host,
                    f" -> {ev.target}" if ev.target else "", ev.detail)
        if self.on_event is not None:
            self.on_event(ev)

    def _busy(self, name: str) -> bool:
        return name in self._in_flight or self.executor.busy(name)

    def tick(self, seen: Mapping[str, Mapping[str, object]] | None = None) -> list[RecoveryEvent]:
        """One recovery pass (after each monitor poll). ``seen``: the monitor's last listing per host."""
        if self.config.mode is RecoveryMode.MANUAL:
            return []
        before = len(self.events)
        now = self.clock()
        hosts = self.inventory.hosts
        down_vms: dict[str, list[VMRecord]] = {}
        for rec in self.inventory.all():
            if self._busy(rec.name):
                continue
            if rec.desired is Desired.ABSENT:
                self._drop_abandoned(rec)
                continue
            if rec.desired is not Desired.RUNNING:
                continue
            if hosts.get(rec.host, HostState.UP) is HostState.ERROR:
                since = self.error_since.setdefault(rec.host, now)
                if now - since >= self.config.grace_period:
                    down_vms.setdefault(rec.host, []).append(rec)
                continue
            if rec.observed in (VMState.RUNNING, VMState.PAUSED, VMState.UNKNOWN):
                self.down_since.pop(rec.name, None)
                continue
            # its host answers but does not run it: restart after the grace period (the host may bring it back)
            since = self.down_since.setdefault(rec.name, now)
            if now - since >= self.config.grace_period:
                self.down_since.pop(rec.name, None)
                self._restart_in_place(rec)
        if self.config.mode is RecoveryMode.RESCHEDULE:
            for uri, recs in down_vms.items():
                self._reschedule_host(uri, recs)
        if seen:
            self._destroy_stale(seen)
        return self.events[before:]

    def _submit(self, rec: VMRecord, action: Action, step: Step, target: str | None = None) -> None:
        with self._lock:
            self._in_flight.add(rec.name)

        def done(f) -> None:
            r: ActionResult = f.result()
            with self._lock:
                self._in_flight.discard(rec.name)
            if not r.ok:
                log.warning("recovery of %s failed: %s", rec.name, r.error)

        self._emit(RecoveryEvent(step, rec.name, rec.spec.lease_id, rec.host, target))
        self.executor.submit(action).add_done_callback(done)

    def _restart_in_place(self, rec: VMRecord) -> None:
        if rec.observed is VMState.SUSPENDED or rec.state_file:
            self._submit(rec, Action(Op.RESUME, rec.name, rec.host, state_file=rec.state_file,
                                     lease_id=rec.spec.lease_id, tenant=rec.spec.tenant), Step.RESTORE_IN_PLACE)
        else:  # deploy starts a defined VM, or defines it again from its image
            self._submit(rec, Action.deploy(rec.spec, rec.host), Step.RESTART_IN_PLACE)

    def _drop_abandoned(self, rec: VMRecord) -> None:
        """A VM given up on (its lease was requeued): remove it once its host answers again."""
        if self.inventory.hosts.get(rec.host) is HostState.ERROR or rec.observed is VMState.UNKNOWN:
            return
        if rec.observed is VMState.ABSENT:
            self.inventory.remove(rec.name)
            return
        self._emit(RecoveryEvent(Step.DESTROY_STALE, rec.name, rec.spec.lease_id, rec.host))
        self._submit_quiet(Action(Op.DESTROY, rec.name, rec.host, lease_id=rec.spec.lease_id), rec.name)

    def _submit_quiet(self, action: Action, name: str) -> None:
        with self._lock:
            self._in_flight.add(name)

        def done(f) -> None:
            with self._lock:
                self._in_flight.discard(name)

        self.executor.submit(action).add_done_callback(done)

    def _reschedule_host(self, uri: str, recs: Sequence[VMRecord]) -> None:
        if uri not in self.fenced:
            if self.fencer is not None:
                ok, out = self.fencer(uri, self.config.fencing_timeout)
                if not ok:
                    for rec in recs:
                        self._emit(RecoveryEvent(Step.FENCING_FAILED, rec.name, rec.spec.lease_id, uri, detail=out))
                    return  # try again at the next tick; never risk a VM running twice
            else:
                log.warning("rescheduling VMs of %s without fencing (no fencing command configured)", uri)
            self.fenced.add(uri)
        by_lease: dict[str | None, list[VMRecord]] = {}
        for rec in recs:
            by_lease.setdefault(rec.spec.lease_id, []).append(rec)
        for lease_id, group in by_lease.items():
            specs: list[VMSpec] = [r.spec for r in group]
            placement = None
            if self.rescheduler is not None:
                try:
                    placement = self.rescheduler.reschedule(lease_id, specs, [uri], f"host {uri} in error")
                except Exception as e:  # noqa: BLE001
                    log.warning("rescheduler failed for lease %s: %s", lease_id, e)
            for rec in group:
                target = (placement or {}).get(rec.name)
                if not target or target == uri or target not in self.drivers or \
                        self.inventory.hosts.get(target) is HostState.ERROR:
                    self.inventory.update(rec.name, desired=Desired.ABSENT)
                    self._emit(RecoveryEvent(Step.REQUEUE, rec.name, lease_id, uri, detail="no host available"))
                    continue
                self.inventory.update(rec.name, host=target, observed=VMState.ABSENT, state_file=None)
                self._submit(rec, Action.deploy(rec.spec, target), Step.RESCHEDULED, target)

    def _destroy_stale(self, seen: Mapping[str, Mapping[str, object]]) -> None:
        """A VM found running on a host other than the one it belongs to now is a stale copy."""
        for uri, found in seen.items():
            if self.inventory.hosts.get(uri) is HostState.ERROR:
                continue
            for name, info in found.items():
                rec = self.inventory.get(name)
                state = getattr(info, "state", None)
                if rec is None or rec.host == uri or self._busy(name):
                    continue
                if not ours(getattr(info, "deployment", None), self.deployment, known=False):
                    continue  # a VM of another deployment that has the name of one of ours
                if state in (VMState.RUNNING, VMState.PAUSED, VMState.SHUTOFF, VMState.CRASHED):
                    self._emit(RecoveryEvent(Step.DESTROY_STALE, name, rec.spec.lease_id, uri, target=rec.host))
                    self.executor.submit(Action(Op.DESTROY, name, uri, lease_id=rec.spec.lease_id, stale=True))
