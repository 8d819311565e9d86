"""OpenNebula mode: OpenNebula's pending VMs become Galerna leases, and Galerna's decisions go back to OpenNebula.

:class:`OpenNebulaMode` owns the client, the VM directory, the plan book,
one enactment driver per monitored host, the event subscriber and the pool
reconciler. It talks to the daemon only through a :class:`LeaseSink` (submit,
cancel, what the database already knows), so the daemon's code needs no
OpenNebula knowledge.

Every VM Galerna sees (in a PLACE, an event or a full read) goes through
:meth:`OpenNebulaMode.ingest`:

- a new PENDING VM (or group) becomes a lease request; the answer (lease id,
  state, planned start) is written back to the VMs' user templates;
- a VM whose template cannot be read, or whose lease the core rejects, is
  refused: SCHED_MESSAGE says why, and an AR (or an immediate lease) is put
  on HOLD so that nothing deploys it at the wrong time;
- a VM of a live lease that OpenNebula terminated cancels its lease.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Protocol, Sequence

from galerna.enact.config import HostConfig
from galerna.model.lease import LeaseType
from galerna.opennebula.client import NO_EXISTS, OneCallError, OneClient, host_uri
from galerna.config.opennebula import OpenNebulaConfig, Placement
from galerna.opennebula.credentials import Credentials, load_credentials, safe_url, xmlrpc_endpoint, zmq_endpoint
from galerna.opennebula.directory import Directory
from galerna.opennebula.driver import OpenNebulaHostDriver
from galerna.opennebula.poolcache import PoolCache
from galerna.opennebula.events import EventSubscriber, PoolReconciler
from galerna.opennebula.objects import OneHost, OneVM, VMState as S
from galerna.opennebula.planbook import PlanBook, PlanServer
from galerna.opennebula.templates import OneLease, Refusal, collect, write_back

log = logging.getLogger(__name__)

NAME_PREFIX = "opennebula:"  # a lease's name: opennebula:<vm id>,<vm id>...:<tag>


class LeaseNames:
    """Lease names that say which OpenNebula VMs a lease is made of, and that only this daemon can write.

    The tag is an HMAC of the VM ids under a key kept in the daemon's database: a tenant who submits a lease
    named ``opennebula:5`` through the API does not get to deploy or terminate OpenNebula VM 5.
    """

    def __init__(self, key: bytes):
        self.key = key

    def _tag(self, ids: str) -> str:
        return hmac.new(self.key, ids.encode(), hashlib.sha256).hexdigest()[:16]

    def name(self, vm_ids: Sequence[int]) -> str:
        ids = ",".join(map(str, vm_ids))
        return f"{NAME_PREFIX}{ids}:{self._tag(ids)}"

    def vms(self, name: str | None) -> tuple[int, ...] | None:
        if not name or not name.startswith(NAME_PREFIX):
            return None
        ids, _, tag = name[len(NAME_PREFIX):].rpartition(":")
        if not hmac.compare_digest(tag, self._tag(ids)):
            return None
        try:
            return tuple(int(x) for x in ids.split(","))
        except ValueError:
            return None


@dataclass(frozen=True)
class Answer:
    """What the daemon decided about a submitted lease."""

    lease_id: str
    state: str
    planned_start: float | None = None
    reason: str = ""

    @property
    def refused(self) -> bool:
        return self.state in ("rejected", "cancelled", "failed")


class LeaseSink(Protocol):
    """The daemon as OpenNebula mode needs it."""

    def submit(self, lease: OneLease) -> Answer: ...

    def cancel(self, lease_id: str, reason: str) -> None: ...

    def known_leases(self) -> Mapping[str, Sequence[int]]:
        """Live OpenNebula leases the database holds: lease id -> VM ids."""

    def is_final(self, lease_id: str) -> bool: ...


class OpenNebulaMode:
    def __init__(self, config: OpenNebulaConfig, *, endpoint: str | None = None,
                 credentials: Credentials | None = None, env: Mapping[str, str] | None = None,
                 data_dir: str | Path = ".", vm_prefix: str = "galerna", live_migration: bool = True,
                 wait_timeout: float = 600.0, timeouts: Mapping | None = None, client: OneClient | None = None,
                 clock: Callable[[], float] = time.time):
        self.config = config
        self.endpoint = endpoint or xmlrpc_endpoint(config, env)
        self.zmq_endpoint = zmq_endpoint(config, env)
        self.credentials = credentials or load_credentials(config, env)
        self.client = client or OneClient(self.endpoint, self.credentials, timeout=config.call_timeout)
        self.directory = Directory(vm_prefix, resolver=self._resolve)
        self.book = PlanBook(config.system_datastore, on_pending=self.ingest)
        self.pool = PoolCache(self.client)
        self.live_migration = live_migration
        self.wait_timeout = wait_timeout
        self.timeouts = dict(timeouts or {})
        self.data_dir = Path(data_dir)
        self.clock = clock
        self.sink: LeaseSink | None = None
        self.on_hosts: Callable[[list[OneHost]], None] | None = None  # each full read of oned's host pool
        self._lock = threading.RLock()
        self._refused: dict[int, str] = {}  # VM id -> the template text that was refused
        self._held: set[int] = set()
        self._groups: dict[tuple[str, str], str] = {}  # (owner, GROUP) -> its lease
        self._planned: dict[str, float] = {}  # lease id -> its planned start, as last answered
        self._drivers: dict[str, OpenNebulaHostDriver] = {}
        self._hosts: list[HostConfig] = []
        self.subscriber: EventSubscriber | None = None
        self.reconciler: PoolReconciler | None = None
        self.plan_server: PlanServer | None = None
        self._writes: queue.Queue = queue.Queue()
        self._writer: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"OpenNebulaMode({safe_url(self.endpoint)!r}, user={self.credentials.user!r})"

    # ------------------------------------------------------------------ hosts
    def discover(self) -> list[HostConfig]:
        """OpenNebula's monitored hosts as enactment hosts (``opennebula:<id>``), one driver each."""
        hosts = [h for h in self.client.hosts(attempts=3) if h.monitored and h.max_cpu > 0]
        if not hosts:
            raise RuntimeError(f"OpenNebula at {safe_url(self.endpoint)} has no monitored host with capacity")
        self._hosts = [HostConfig(uri=host_uri(h.id), name=h.name, storage_pool=None) for h in hosts]
        self._drivers = {host_uri(h.id): self.driver_for(h.id) for h in hosts}
        return list(self._hosts)

    def driver_for(self, host_id: int) -> OpenNebulaHostDriver:
        """The enactment driver of OpenNebula host ``host_id`` (at start, or for a host added later)."""
        return OpenNebulaHostDriver(
            self.client, host_id, self.directory, self.config, wait_timeout=self.wait_timeout, pool=self.pool,
            live_migration=self.live_migration, timeouts=self.timeouts,
            book=self.book if self.config.placement is Placement.SCHED_MAD else None)

    def drivers(self) -> dict[str, OpenNebulaHostDriver]:
        return dict(self._drivers)

    # ------------------------------------------------------------------ life cycle
    def attach(self, sink: LeaseSink) -> None:
        """Connect to the daemon; VMs of leases it already holds are never submitted again."""
        self.sink = sink
        self.directory.final = sink.is_final
        for lid, ids in sink.known_leases().items():
            self.directory.add_lease(lid, list(ids))

    def start(self) -> None:
        self._writer = threading.Thread(target=self._write_loop, name="one-write-back", daemon=True)
        self._writer.start()
        self.reconciler = PoolReconciler(lambda: self.client.vms(attempts=3), self.reconcile,
                                         self.config.reconcile_interval).start()
        # a HOST state event (a host created, monitored, in error...) asks for a full read: hosts and VMs
        self.subscriber = EventSubscriber(self.zmq_endpoint, lambda vm: self.ingest([vm]),
                                          on_host=lambda ev: self.reconciler.request(),
                                          on_connect=self.reconciler.request).start()
        if self.config.placement is Placement.SCHED_MAD:
            path = self.config.plan_socket or str(self.data_dir / "one-plan.sock")
            self.plan_server = PlanServer(path, self.book).start()
        log.info("OpenNebula mode started", extra={"endpoint": safe_url(self.endpoint), "events": self.zmq_endpoint,
                                                   "placement": self.config.placement.value})

    def stop(self) -> None:
        for part in (self.plan_server, self.subscriber, self.reconciler):
            if part is not None:
                part.stop()
        self._writes.put(None)
        if self._writer is not None:
            self._writer.join(5)

    def write_state_later(self, lease_id: str, state: str, planned_start: float | None = None) -> None:
        """:meth:`write_state` on the write-back thread (for callers that must not wait for oned)."""
        self._writes.put((lease_id, state, planned_start))

    def _write_loop(self) -> None:
        while (item := self._writes.get()) is not None:
            try:
                self.write_state(*item)
            except Exception:  # noqa: BLE001
                log.exception("write-back")

    # ------------------------------------------------------------------ VMs in
    def _resolve(self, lease_id: str) -> Sequence[int] | None:
        if self.sink is None:
            return None
        return self.sink.known_leases().get(lease_id)

    def ingest(self, vms: Sequence[OneVM]) -> None:
        """New pending VMs -> leases or refusals; VMs of live leases terminated in OpenNebula -> cancels."""
        if self.sink is None:
            return
        with self._lock:
            fresh = []
            for vm in vms:
                entry = self.directory.by_vm(vm.id)
                if entry is not None:
                    if vm.state == S.DONE:
                        self._finished(vm.id)
                    continue
                if vm.state != S.PENDING:
                    continue  # only pending VMs ask for a lease (HOLD ones wait for their owner's release)
                text = _lease_text(vm)
                if self._refused.get(vm.id) == text and vm.id not in self._held:
                    continue  # refused before and not changed since
                if vm.id in self._held:  # someone released a VM Galerna held: ask again
                    self._held.discard(vm.id)
                fresh.append(vm)
            if fresh:
                got = collect(fresh, self.clock(), self.config)
                for r in got.refusals:
                    self._refuse(r, {v.id: v for v in fresh})
                for lease in got.leases:
                    group = self._group_key(lease)
                    earlier = self._groups.get(group) if group else None
                    if earlier is not None and not self.directory.is_over(earlier):
                        self._refuse(Refusal(lease.vm_ids, f"GROUP {group[1]} already runs as Galerna lease "
                                                           f"{earlier}; a group's VMs must be created within "
                                                           f"{self.config.group_settle:g} s of each other"), {})
                        continue
                    lid = self._submit(lease)
                    if group and lid:
                        self._groups[group] = lid
        self.directory.changed()

    def _finished(self, vm_id: int, how: str = "was terminated in OpenNebula") -> None:
        """A VM of a live lease is DONE (or gone) in OpenNebula: its lease is cancelled."""
        entry = self.directory.by_vm(vm_id)
        if entry is None or self.directory.is_over(entry.lease_id) or self.sink.is_final(entry.lease_id):
            return
        self.directory.end_lease(entry.lease_id)
        self.sink.cancel(entry.lease_id, f"OpenNebula VM {vm_id} {how}")

    def reconcile(self, vms: Sequence[OneVM]) -> None:
        """A full read of the pool: :meth:`ingest` it, then look up each VM of a live lease that it lacks (the read
        leaves DONE VMs out), so a VM finished while its event was lost still ends its lease."""
        self.ingest(vms)
        if self.sink is None:
            return
        if self.on_hosts is not None:
            try:
                self.on_hosts(self.client.hosts(attempts=3))
            except Exception:  # noqa: BLE001 - the next pass tries again
                log.exception("re-reading oned's host pool")
        seen = {v.id for v in vms}
        for vm_id in sorted(self.directory.known() - seen):
            entry = self.directory.by_vm(vm_id)
            if entry is None or self.directory.is_over(entry.lease_id):
                continue
            try:
                vm = self.client.vm(vm_id)
            except OneCallError as e:
                if e.code == NO_EXISTS:
                    with self._lock:
                        self._finished(vm_id, "no longer exists in OpenNebula")
                continue
            if vm.state == S.DONE:
                with self._lock:
                    self._finished(vm_id)

    @staticmethod
    def _group_key(lease: OneLease) -> tuple[str, str] | None:
        x = lease.request.extra
        return (x["opennebula_owner"], x["opennebula_group"]) if "opennebula_group" in x else None

    def _submit(self, lease: OneLease) -> str | None:
        """The lease id the daemon gave it (None when the daemon refused to take it at all)."""
        try:
            answer = self.sink.submit(lease)
        except Exception as e:  # noqa: BLE001 - a refusal of the daemon (e.g. unknown resource)
            self._refuse(Refusal(lease.vm_ids, f"Galerna refused the lease: {e}",
                                 hold=lease.request.type in (LeaseType.AR, LeaseType.IM)), {})
            return None
        self.directory.add_lease(answer.lease_id, list(lease.vm_ids))
        if answer.refused:
            self.directory.end_lease(answer.lease_id)
            reason = answer.reason or answer.state
            self._refuse(Refusal(lease.vm_ids, f"Galerna lease {answer.lease_id} {answer.state}: {reason}",
                                 hold=lease.request.type in (LeaseType.AR, LeaseType.IM)), {}, lease_id=answer.lease_id)
            return answer.lease_id
        self.write_state(answer.lease_id, answer.state, answer.planned_start)
        return answer.lease_id

    def _refuse(self, r: Refusal, by_id: Mapping[int, OneVM], lease_id: str = "") -> None:
        log.warning("OpenNebula VMs %s refused: %s", r.vm_ids, r.reason)
        for vm_id in r.vm_ids:
            vm = by_id.get(vm_id)
            self._refused[vm_id] = _lease_text(vm) if vm is not None else ""
            self.book.note(vm_id, "E", r.reason)
            self._update(vm_id, write_back(lease_id, "refused", None, message=r.reason))
            if r.hold:
                try:
                    self.client.action("hold", vm_id)
                    self._held.add(vm_id)
                except OneCallError as e:
                    log.warning("could not hold refused VM %d: %s", vm_id, e)

    # ------------------------------------------------------------------ state out
    def write_state(self, lease_id: str, state: str, planned_start: float | None = None) -> None:
        """Write the lease's id, state and planned start into its VMs' user templates (merge)."""
        if planned_start is not None:
            self._planned[lease_id] = planned_start
        start = self._planned.get(lease_id)
        note = f"Galerna lease {lease_id}: {state}" + (f", planned start {_iso(start)}" if start else "")
        for e in self.directory.lease_vms(lease_id):
            self.book.note(e.vm_id, "I", note)
            self._update(e.vm_id, write_back(lease_id, state, planned_start))

    def _update(self, vm_id: int, text: str) -> None:
        if not self.config.write_back:
            return
        try:
            self.client.update(vm_id, text, merge=True)
        except OneCallError as e:
            log.warning("could not write lease state to VM %d: %s", vm_id, e)


def _lease_text(vm: OneVM | None) -> str:
    if vm is None:
        return ""
    return repr((vm.user_template.get("HAIZEA"), vm.user_template.get("GALERNA"), vm.template.get("CPU"),
                 vm.template.get("MEMORY")))


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))
