"""The daemon in OpenNebula mode: Galerna's Service with OpenNebula's hosts and VMs as its only enactment.

``OpenNebulaService`` is the daemon's ``Service`` given one OpenNebula host
driver per monitored host (so its executor, gate, monitor, recovery and
reconciliation run unchanged) and an :class:`OpenNebulaMode` started after
it and stopped before it. ``ServiceSink`` is how the mode submits and
cancels leases: through the same ``Service.call`` operations as the REST API,
so OpenNebula leases are ordinary leases in the API, CLI and event stream.
A lease requested through Galerna's own API (REST, XML-RPC) is refused in
this mode with a 409 that says how to request one: it would have no
OpenNebula VM to deploy (creating VMs for it is not done, docs/opennebula.md).
"""
from __future__ import annotations

import logging
import secrets
from concurrent.futures import Future
from datetime import datetime
from typing import Mapping, Sequence

from galerna.daemon.errors import ErrorKind, Refused
from galerna.daemon.service import Service
from galerna.daemon.settings import Settings
from galerna.opennebula.client import host_uri
from galerna.opennebula.mode import Answer, LeaseNames, OpenNebulaMode
from galerna.opennebula.objects import OneHost
from galerna.opennebula.templates import OneLease
from galerna.store.db import Store

log = logging.getLogger(__name__)

HOST_SCHEME = "opennebula:"  # host_uri(id) = opennebula:<id>
NOT_HERE = ("in OpenNebula mode a lease is made of OpenNebula VMs: create them in OpenNebula (onevm create, or "
            "one.vm.allocate, with a HAIZEA or GALERNA vector in the template; see docs/opennebula.md); Galerna's API "
            "lists, changes and cancels those leases")

_STATE_OF_EVENT = {"lease.started": "running", "lease.resumed": "running", "lease.suspended": "suspended",
                   "lease.preempted": "preempted", "lease.ended": "done", "lease.cancelled": "cancelled",
                   "lease.failed": "failed", "lease.rejected": "rejected"}


class ServiceSink:
    def __init__(self, service: Service, timeout: float = 30.0):
        self.service = service
        self.timeout = timeout
        key = service.store.get_meta("opennebula_name_key")
        if key is None:
            key = secrets.token_hex(32)
            service.store.set_meta("opennebula_name_key", key)
        self.names = LeaseNames(bytes.fromhex(key))

    def submit(self, lease: OneLease) -> Answer:
        r = lease.request
        name = self.names.name(lease.vm_ids)
        view = self.service.submit_for_vms(
            type=r.type.value, duration=r.duration, nodes=[dict(n) for n in r.nodes], start=r.start,
            deadline=r.deadline, preemptible=r.preemptible, tenant=r.tenant, name=name).result(self.timeout)
        start = view.get("start")
        return Answer(str(view["id"]), str(view["state"]),
                      datetime.fromisoformat(start).timestamp() if start else None, view.get("reason") or "")

    def cancel(self, lease_id: str, reason: str) -> None:
        try:
            self.service.cancel(lease_id, reason).result(self.timeout)
        except Exception as e:  # noqa: BLE001 - already final: nothing to cancel
            log.info("cancel of lease %s: %s", lease_id, e)

    def known_leases(self) -> Mapping[str, Sequence[int]]:
        out = {}
        for lid, lease in list(self.service.core.leases.items()):
            ids = self.names.vms(lease.req.extra.get("name"))
            if ids:
                out[lid] = ids
        return out

    def is_final(self, lease_id: str) -> bool:
        lease = self.service.core.leases.get(lease_id)
        return lease is None or lease.state.final


class OpenNebulaService(Service):
    def __init__(self, store: Store, settings: Settings, mode: OpenNebulaMode, **kw):
        super().__init__(store, settings, drivers=mode.drivers(), **kw)
        self.mode = mode
        self.sink = ServiceSink(self, settings.daemon.decision_timeout * 3)
        mode.sink = self.sink  # the directory resolves leases from the database during the start-up reconcile
        mode.on_hosts = self.sync_hosts

    def submit(self, **request) -> Future:
        """A lease from Galerna's own API: refused (409, :data:`NOT_HERE`), since no OpenNebula VM would carry it."""
        fut: Future = Future()
        fut.set_exception(Refused(NOT_HERE, ErrorKind.CONFLICT))
        return fut

    def submit_for_vms(self, **request) -> Future:
        """A lease for VMs OpenNebula holds (the mode's only way in): the daemon's ordinary submit."""
        return super().submit(**request)

    def load(self) -> None:
        """The core from the database, then the VM directory from its leases (before the start-up reconcile)."""
        super().load()
        self.mode.attach(self.sink)

    def start(self) -> None:
        super().start()
        self.broker.subscribe(self._on_event)
        self.mode.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.mode.stop()
        super().stop(timeout)

    def sync_hosts(self, hosts: Sequence[OneHost]) -> None:
        """OpenNebula's host pool read again (a HOST event, or the slow full read): a monitored host Galerna does not
        have is added with its driver, no restart needed; a host deleted in OpenNebula is removed (disabled while
        leases still use it). A host in ERROR or DISABLED stays: the monitor already treats it as lost."""
        timeout = self.settings.daemon.decision_timeout * 3
        have = dict(self.hosts.name_of_uri)  # URI -> name
        for h in hosts:
            uri = host_uri(h.id)
            if uri in have or not h.monitored or h.max_cpu <= 0:
                continue
            self.hosts.provide(uri, self.mode.driver_for(h.id))
            try:
                self.change_host("add", h.name, uri=uri).result(timeout)
                log.info("OpenNebula host %s (%s) added", h.id, h.name)
            except Exception as e:  # noqa: BLE001 - e.g. a Galerna host of that name already
                log.warning("OpenNebula host %s (%s) not added: %s", h.id, h.name, e)
        present = {host_uri(h.id) for h in hosts}
        for uri, name in have.items():
            if uri.startswith(HOST_SCHEME) and uri not in present and name in self.hosts.names:
                try:
                    self.change_host("remove", name).result(timeout)
                    log.info("OpenNebula host %s deleted in OpenNebula: removed", name)
                except Exception as e:  # noqa: BLE001 - still used by leases: no new placements there
                    log.warning("OpenNebula host %s deleted in OpenNebula but %s; disabling it", name, e)
                    self.change_host("disable", name).result(timeout)

    def _on_event(self, msg: dict) -> None:
        """Lease state changes written back to their VMs; an ended or cancelled lease's VMs are terminated."""
        state = _STATE_OF_EVENT.get(msg.get("event", ""))
        lid = msg.get("lease")
        if state is None or lid is None or not self.mode.directory.lease_vms(str(lid)):
            return
        if state in ("done", "cancelled", "failed", "rejected"):
            self.mode.directory.end_lease(str(lid))
        self.mode.write_state_later(str(lid), state)


def opennebula_settings(settings: Settings, mode: OpenNebulaMode) -> Settings:
    """The daemon's settings with OpenNebula's hosts as its enactment hosts.

    The executor always takes the "live" path of a migration: the driver then asks oned for a live or a cold
    one (``[enactment] live_migration``), since in OpenNebula no state file is Galerna's to carry.
    """
    en = settings.enactment.model_copy(update={"hosts": mode.discover(), "live_migration": True})
    return settings.model_copy(update={"enactment": en, "daemon": settings.daemon.model_copy(update={"enact": True})})


def build_service(settings: Settings, endpoint: str | None = None, store: Store | None = None,
                  **mode_args) -> OpenNebulaService:
    """Everything ``galerna serve --opennebula URL`` runs, wired."""
    data_dir = settings.daemon.data_dir or settings.enactment.data_dir or "."
    mode_args.setdefault("timeouts", dict(settings.enactment.retry.timeouts))
    mode = OpenNebulaMode(settings.config.opennebula, endpoint=endpoint, data_dir=data_dir,
                          vm_prefix=settings.enactment.vm_prefix,
                          live_migration=settings.enactment.live_migration, **mode_args)
    full = opennebula_settings(settings, mode)
    st = store or Store(full.daemon.db, sqlite_synchronous=full.daemon.sqlite_synchronous)
    return OpenNebulaService(st, full, mode)
