"""The libvirt driver: Galerna's Driver interface on one libvirt host.

URIs: ``qemu:///system``, ``qemu+tcp://host/system``, ``qemu+ssh://user@host/system``
and ``test:///path/node.xml`` (libvirt's in-process test driver). The
connection (``connection.py``) and the images (``storage.py``) are parts of
their own, and so is reading VM state (``state.py``); this file carries out
the operations.

Errors that describe state (no such domain, resuming a running domain) are
handled as state; everything else becomes :class:`HypervisorError`.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

import libvirt

from galerna.enact.cpu_model import CPUModel, resolve_cpu
from galerna.enact.domain_xml import domain_xml
from galerna.enact.identity import describe_owner
from galerna.enact.driver import (
    Driver,
    HypervisorError,
    OperationKind as Op,
    VMInfo,
    VMSpec,
    VMState,
    uri_scheme,
)
from galerna.enact.libvirt.codes import DOMAIN_STATES
from galerna.enact.libvirt.connection import CloseListener, Connection, LifecycleListener
from galerna.enact.libvirt.events import init_libvirt
from galerna.enact.libvirt.state import DomainStates
from galerna.enact.libvirt.storage import PoolStorage
from galerna.model.lease import DiskImage


class LibvirtDriver(DomainStates, Driver):
    """One libvirt host behind the Driver interface; idempotent operations, errors as HypervisorError.

    One piece (about 300 lines) because each method is one operation of the Driver interface, and each reads the
    same domain state through the same connection; the connection, storage, events and state codes are apart."""

    def __init__(
        self,
        uri: str,
        state_dir: str | os.PathLike | None = None,
        *,
        storage_pool: str | None = "galerna",
        nic: str | None = None,
        host_cpu: CPUModel | None = None,
        cluster_cpu: CPUModel | None = None,
        managed_save: bool = False,
        domain_type: str | None = None,
        prefix: str = "galerna",
        keepalive: tuple[int, int] = (5, 3),
        open_timeout_s: float | None = None,
        migration_host: str | None = None,
    ):
        init_libvirt()
        self.uri = uri
        self.scheme = uri_scheme(uri)
        self.is_test = self.scheme == "test"
        self.state_dir = Path(state_dir) if state_dir else Path("/var/lib/galerna/state") / self.scheme
        self.nic = nic
        self.host_cpu = host_cpu
        self.cluster_cpu = cluster_cpu
        self.managed_save = managed_save
        self.domain_type = domain_type
        self.prefix = prefix
        self.migration_host = migration_host
        self._connection = Connection(self, uri, keepalive)
        self._storage = PoolStorage(self._connection, storage_pool)
        self._state_files: dict[str, str] = {}

    # ------------------------------------------------------------------ connection and images
    @property
    def connection(self) -> libvirt.virConnect:
        """The live connection (opened on demand). Tests use it to play the hypervisor's part."""
        return self._connection.get()

    @property
    def storage_pool(self) -> str | None:
        return self._storage.pool_name

    def close(self) -> None:
        self._connection.close()

    def add_lifecycle_listener(self, fn: LifecycleListener) -> None:
        self._connection.add_lifecycle_listener(fn)

    def add_close_listener(self, fn: CloseListener) -> None:
        self._connection.add_close_listener(fn)

    def stage_image(self, image: DiskImage, source: str | None = None) -> str:
        return self._storage.stage_image(image, source)

    # ------------------------------------------------------------------ lifecycle
    def _domain_type(self) -> str:
        if self.domain_type:
            return self.domain_type
        return "test" if self.is_test else "qemu"

    def xml_for(self, spec: VMSpec, disk_path: str | None = None, disk_format: str = "qcow2") -> str:
        return domain_xml(
            spec,
            domain_type=self._domain_type(),
            machine=None if self.is_test else "pc",
            cpu=resolve_cpu(spec.cpu, self.host_cpu, self.cluster_cpu),
            disk_path=disk_path,
            disk_format=disk_format,
            nic=spec.network if spec.network is not None else self.nic,
        )

    def deploy(self, spec: VMSpec) -> VMInfo:
        dom = self._connection.lookup(spec.name, Op.DEPLOY)
        info = self._info(dom, spec.name)
        if dom is not None and spec.deployment and info.deployment != spec.deployment:
            raise HypervisorError(
                f"a VM of {describe_owner(info.deployment)} has this name here; it is left alone",
                op=Op.DEPLOY, vm=spec.name, host=self.uri, transient=False)
        if info.state in (VMState.RUNNING, VMState.PAUSED):
            return info  # already deployed (a retry after a timeout, or adoption)
        if info.state is VMState.SUSPENDED:
            raise HypervisorError(
                "VM has saved state here; resume it instead of deploying", op=Op.DEPLOY, vm=spec.name, host=self.uri,
                transient=False,
            )
        try:
            if dom is None:
                disk, fmt = self._storage.prepare_disk(spec)
                dom = self._connection.get().defineXML(self.xml_for(spec, disk, fmt))
            try:
                dom.create()
            except libvirt.libvirtError as e:
                if e.get_error_code() == libvirt.VIR_ERR_OPERATION_INVALID and dom.isActive():
                    return self._info(dom, spec.name)  # someone else started it meanwhile
                raise
            state = DOMAIN_STATES.get(dom.state()[0], VMState.UNKNOWN)
            uuid = dom.UUIDString()
        except libvirt.libvirtError as e:
            raise self._connection.error(e, Op.DEPLOY, spec.name) from e
        # built from the spec: no need to read back and parse the domain XML
        return VMInfo(spec.name, state, self.uri, spec.vcpus, spec.memory_mb, uuid, True, spec.lease_id,
                      deployment=spec.deployment)

    def start(self, name: str) -> VMInfo:
        dom = self._connection.lookup(name, Op.START)
        info = self._info(dom, name)
        if info.state in (VMState.RUNNING, VMState.PAUSED):
            return info
        if dom is None:
            raise HypervisorError("no such VM", op=Op.START, vm=name, host=self.uri, transient=False)
        try:
            dom.create()
        except libvirt.libvirtError as e:
            if e.get_error_code() != libvirt.VIR_ERR_OPERATION_INVALID:
                raise self._connection.error(e, Op.START, name) from e
        return self._info(dom, name)

    def _remove(self, dom: libvirt.virDomain | None, name: str) -> VMInfo:
        """Undefine an inactive domain and drop its overlay and state file."""
        if dom is not None:
            try:
                if dom.isPersistent():
                    try:
                        dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE)
                    except libvirt.libvirtError as e:
                        if e.get_error_code() not in (libvirt.VIR_ERR_NO_SUPPORT, libvirt.VIR_ERR_INVALID_ARG):
                            raise
                        dom.undefine()
            except libvirt.libvirtError as e:
                if e.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                    raise self._connection.error(e, Op.DESTROY, name) from e
        sf = self._state_file(name)
        if sf:
            Path(sf).unlink(missing_ok=True)
        self._state_files.pop(name, None)
        self._storage.delete_overlay(name)
        return VMInfo(name, VMState.ABSENT, self.uri)

    def _active(self, dom: libvirt.virDomain) -> bool:
        try:
            return bool(dom.isActive())
        except libvirt.libvirtError as e:
            if e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return False
            raise

    def shutdown(self, name: str, timeout: float = 30.0) -> VMInfo:
        dom = self._connection.lookup(name, Op.SHUTDOWN)
        if dom is None:
            return self._remove(None, name)
        try:
            if self._active(dom):
                try:
                    dom.shutdown()
                except libvirt.libvirtError as e:
                    if e.get_error_code() not in (libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_ERR_OPERATION_INVALID):
                        raise
                deadline = time.monotonic() + timeout
                delay = 0.02
                while self._active(dom) and time.monotonic() < deadline:
                    time.sleep(delay)
                    delay = min(delay * 2, 0.25)
                if self._active(dom):
                    self._hard_stop(dom)
        except libvirt.libvirtError as e:
            raise self._connection.error(e, Op.SHUTDOWN, name) from e
        return self._remove(dom, name)

    def _hard_stop(self, dom: libvirt.virDomain) -> None:
        try:
            dom.destroy()
        except libvirt.libvirtError as e:
            if e.get_error_code() not in (libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_ERR_OPERATION_INVALID):
                raise

    def destroy(self, name: str) -> VMInfo:
        dom = self._connection.lookup(name, Op.DESTROY)
        try:
            if dom is not None and self._active(dom):
                self._hard_stop(dom)
        except libvirt.libvirtError as e:
            raise self._connection.error(e, Op.DESTROY, name) from e
        return self._remove(dom, name)

    def suspend(self, name: str, state_file: str | None = None) -> VMInfo:
        dom = self._connection.lookup(name, Op.SUSPEND)
        info = self._info(dom, name)
        if info.state is VMState.SUSPENDED:
            return info
        if dom is None or info.state not in (VMState.RUNNING, VMState.PAUSED):
            raise HypervisorError(f"cannot suspend a VM that is {info.state.value}", op=Op.SUSPEND, vm=name,
                                  host=self.uri, transient=False)
        try:
            if state_file is None and self.managed_save:
                dom.managedSave(0)
                return self._info(dom, name)
            path = state_file or self.default_state_file(name)
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).unlink(missing_ok=True)
            dom.save(path)
            self._state_files[name] = path
        except libvirt.libvirtError as e:
            raise self._connection.error(e, Op.SUSPEND, name) from e
        return self._info(self._connection.lookup(name, Op.SUSPEND), name)

    def resume(self, name: str, state_file: str | None = None) -> VMInfo:
        dom = self._connection.lookup(name, Op.RESUME)
        info = self._info(dom, name)
        if info.state is VMState.RUNNING:
            return info
        try:
            if info.state is VMState.PAUSED:
                try:
                    dom.resume()
                except libvirt.libvirtError as e:
                    if e.get_error_code() != libvirt.VIR_ERR_OPERATION_INVALID:
                        raise
                return self._info(dom, name)
            path = state_file if state_file and os.path.exists(state_file) else info.state_file
            if path:
                try:
                    self._connection.get().restore(path)
                except libvirt.libvirtError as e:
                    # restoring a VM that is already active: it runs, which is what we want
                    if e.get_error_code() != libvirt.VIR_ERR_OPERATION_INVALID:
                        raise
                    if not self._active(self._connection.lookup(name, Op.RESUME) or dom):
                        raise
                Path(path).unlink(missing_ok=True)  # never restore the same memory twice
                self._state_files.pop(name, None)
                return self.inspect(name)
            if dom is not None and info.state is VMState.SUSPENDED:  # managed save
                dom.create()
                return self._info(dom, name)
        except libvirt.libvirtError as e:
            raise self._connection.error(e, Op.RESUME, name) from e
        raise HypervisorError(f"no saved state to resume (VM is {info.state.value})", op=Op.RESUME, vm=name,
                              host=self.uri, transient=False)

    def _simple(self, name: str, op: Op, fn: Callable[[libvirt.virDomain], None], ok_states: tuple[VMState, ...],
                need: tuple[VMState, ...]) -> VMInfo:
        dom = self._connection.lookup(name, op)
        info = self._info(dom, name)
        if info.state in ok_states:
            return info
        if dom is None or info.state not in need:
            raise HypervisorError(f"cannot {op.value} a VM that is {info.state.value}", op=op, vm=name, host=self.uri,
                                  transient=False)
        try:
            fn(dom)
        except libvirt.libvirtError as e:
            if e.get_error_code() != libvirt.VIR_ERR_OPERATION_INVALID:
                raise self._connection.error(e, op, name) from e
        return self._info(dom, name)

    def pause(self, name: str) -> VMInfo:
        return self._simple(name, Op.PAUSE, lambda d: d.suspend(), (VMState.PAUSED,), (VMState.RUNNING,))

    def unpause(self, name: str) -> VMInfo:
        return self._simple(name, Op.UNPAUSE, lambda d: d.resume(), (VMState.RUNNING,), (VMState.PAUSED,))

    def reboot(self, name: str) -> VMInfo:
        return self._simple(name, Op.REBOOT, lambda d: d.reboot(0), (), (VMState.RUNNING,))

    def reset(self, name: str) -> VMInfo:
        return self._simple(name, Op.RESET, lambda d: d.reset(0), (), (VMState.RUNNING, VMState.PAUSED))

    def forget(self, name: str) -> None:
        dom = self._connection.lookup(name, Op.MIGRATE)
        if dom is None:
            self._state_files.pop(name, None)
            return
        try:
            if self._active(dom):
                raise HypervisorError("VM still runs here", op=Op.MIGRATE, vm=name, host=self.uri, transient=False)
            if dom.isPersistent():
                dom.undefine()
        except libvirt.libvirtError as e:
            if e.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                raise self._connection.error(e, Op.MIGRATE, name) from e
        self._state_files.pop(name, None)

    # ------------------------------------------------------------------ migration
    def can_migrate_live(self, dest: Driver) -> bool:
        return isinstance(dest, LibvirtDriver) and not self.is_test and not dest.is_test and dest.uri != self.uri

    def migration_uri(self) -> str | None:
        """Where other hypervisors send this host's incoming migration data: ``tcp://<host>``.

        The host is ``migration_host`` if set, else the host of this driver's
        URI (the address Galerna reaches it at). ``None`` for a local URI
        (``qemu:///system``): libvirt then uses the destination's hostname.
        """
        host = self.migration_host or urlsplit(self.uri).hostname
        if not host:
            return None
        return f"tcp://[{host}]" if ":" in host else f"tcp://{host}"

    def migrate_live(self, name: str, dest: Driver) -> VMInfo:
        """Live migration, managed by this client (source and destination connections both open)."""
        assert isinstance(dest, LibvirtDriver)
        dom = self._connection.lookup(name, Op.MIGRATE)
        if dom is None:
            raise HypervisorError("no such VM", op=Op.MIGRATE, vm=name, host=self.uri, transient=False)
        flags = libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PERSIST_DEST | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE
        try:
            dom.migrate(dest.connection, flags, None, dest.migration_uri(), 0)
        except libvirt.libvirtError as e:
            raise self._connection.error(e, Op.MIGRATE, name) from e
        return dest.inspect(name)

