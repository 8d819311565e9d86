"""The libvirt driver: one connection per host URI.

URIs: ``qemu:///system``, ``qemu+tcp://host/system``, ``qemu+ssh://user@host/system``
and ``test:///path/node.xml`` (libvirt's in-process test driver). Each
*connection* to a test node file is an independent hypervisor, so a test
connection is opened once and never reopened; remote connections are
reopened after they drop.

Errors that describe state (no such domain, resuming a running domain) are
handled as state; everything else becomes :class:`HypervisorError`.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

import libvirt

from galerna.model.lease import DiskImage

from galerna.enact.cpu_model import CPUModel, resolve_cpu
from galerna.enact.domain_xml import domain_xml, parse_metadata
from galerna.enact.driver import (
    Driver,
    HostInfo,
    HypervisorError,
    OperationKind as Op,
    VMInfo,
    VMSpec,
    VMState,
    uri_scheme,
)

log = logging.getLogger(__name__)

_init_lock = threading.Lock()
_initialised = False
_loop_thread: threading.Thread | None = None

#: libvirt errors that retrying will not fix
PERMANENT_CODES = frozenset(
    {
        libvirt.VIR_ERR_XML_ERROR,
        libvirt.VIR_ERR_XML_DETAIL,
        libvirt.VIR_ERR_CONFIG_UNSUPPORTED,
        libvirt.VIR_ERR_NO_SUPPORT,
        libvirt.VIR_ERR_INVALID_ARG,
        libvirt.VIR_ERR_OPERATION_UNSUPPORTED,
        libvirt.VIR_ERR_NO_DOMAIN,
        libvirt.VIR_ERR_OPERATION_INVALID,
        libvirt.VIR_ERR_DOM_EXIST,
        libvirt.VIR_ERR_AUTH_FAILED,
    }
)
CONNECTION_CODES = frozenset(
    {libvirt.VIR_ERR_SYSTEM_ERROR, libvirt.VIR_ERR_RPC, libvirt.VIR_ERR_NO_CONNECT, libvirt.VIR_ERR_INVALID_CONN}
)

_STATE = {
    libvirt.VIR_DOMAIN_NOSTATE: VMState.UNKNOWN,
    libvirt.VIR_DOMAIN_RUNNING: VMState.RUNNING,
    libvirt.VIR_DOMAIN_BLOCKED: VMState.RUNNING,
    libvirt.VIR_DOMAIN_PAUSED: VMState.PAUSED,
    libvirt.VIR_DOMAIN_SHUTDOWN: VMState.RUNNING,  # shutting down: still running
    libvirt.VIR_DOMAIN_SHUTOFF: VMState.SHUTOFF,
    libvirt.VIR_DOMAIN_CRASHED: VMState.CRASHED,
    libvirt.VIR_DOMAIN_PMSUSPENDED: VMState.PAUSED,
}


def init_libvirt() -> None:
    """Once per process: silence libvirt's stderr printing and run its event loop in a thread.

    The event implementation must be registered before connections are
    opened for them to deliver lifecycle events and keepalives.
    """
    global _initialised, _loop_thread
    with _init_lock:
        if _initialised:
            return
        libvirt.registerErrorHandler(lambda *a: None, None)
        libvirt.virEventRegisterDefaultImpl()

        def run() -> None:
            while True:
                try:
                    libvirt.virEventRunDefaultImpl()
                except Exception:  # pragma: no cover - keep the loop alive
                    log.exception("libvirt event loop")
                    time.sleep(0.1)

        _loop_thread = threading.Thread(target=run, name="libvirt-events", daemon=True)
        _loop_thread.start()
        _initialised = True


LifecycleListener = Callable[["LibvirtDriver", str, int, int], None]
CloseListener = Callable[["LibvirtDriver", int], None]


class LibvirtDriver(Driver):
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
        self.storage_pool = storage_pool
        self.nic = nic
        self.host_cpu = host_cpu
        self.cluster_cpu = cluster_cpu
        self.managed_save = managed_save
        self.domain_type = domain_type
        self.prefix = prefix
        self.keepalive = keepalive
        self.migration_host = migration_host
        self._conn: libvirt.virConnect | None = None
        self._lock = threading.RLock()
        self._state_files: dict[str, str] = {}
        self._lifecycle: list[LifecycleListener] = []
        self._close: list[CloseListener] = []
        self._callback_ids: list[int] = []
        self.connects = 0  # how many times a connection was opened

    # ------------------------------------------------------------------ connection
    def _connect(self) -> libvirt.virConnect:
        with self._lock:
            conn = self._conn
            if conn is not None and (self.is_test or conn.isAlive()):
                return conn
            if conn is not None:
                self._drop(conn)
            self._callback_ids.clear()  # ids of a connection that is gone (closed under us)
            try:
                conn = libvirt.open(self.uri)
            except libvirt.libvirtError as e:
                raise HypervisorError(
                    e.get_error_message() or str(e), host=self.uri, code=e.get_error_code(), connection_lost=True
                ) from e
            self.connects += 1
            if not self.is_test and self.keepalive:
                try:
                    conn.setKeepAlive(*self.keepalive)
                except libvirt.libvirtError:
                    pass
            try:
                conn.registerCloseCallback(self._on_close, None)
            except libvirt.libvirtError as e:  # pragma: no cover - every driver we use has them
                log.warning("%s: no close callback: %s", self.uri, e)
            self._conn = conn
            if self._lifecycle:
                self._watch_lifecycle(conn)
            return conn

    def _watch_lifecycle(self, conn: libvirt.virConnect) -> None:
        """Ask for lifecycle events (caller holds the lock).

        Only once someone listens: every event crosses into Python on the event
        loop thread and competes for the GIL with the operations, which cost
        about 0.1 ms of CPU per deploy on the test driver for nobody.
        """
        if self._callback_ids:
            return
        try:
            self._callback_ids.append(
                conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._on_lifecycle, None)
            )
        except libvirt.libvirtError as e:  # pragma: no cover - every driver we use has events
            log.warning("%s: no lifecycle events: %s", self.uri, e)

    def _drop(self, conn: libvirt.virConnect) -> None:
        for cid in self._callback_ids:
            try:
                conn.domainEventDeregisterAny(cid)
            except libvirt.libvirtError:
                pass
        self._callback_ids.clear()
        try:
            conn.unregisterCloseCallback()
        except libvirt.libvirtError:
            pass
        try:
            conn.close()
        except libvirt.libvirtError:
            pass
        if self._conn is conn:
            self._conn = None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._drop(self._conn)

    @property
    def connection(self) -> libvirt.virConnect:
        """The live connection (opened on demand). Tests use it to play the hypervisor's part."""
        return self._connect()

    def add_lifecycle_listener(self, fn: LifecycleListener) -> None:
        with self._lock:
            self._lifecycle.append(fn)
            if self._conn is not None:
                self._watch_lifecycle(self._conn)

    def add_close_listener(self, fn: CloseListener) -> None:
        self._close.append(fn)

    def _on_lifecycle(self, conn, dom, event, detail, opaque) -> None:
        try:
            name = dom.name()
        except libvirt.libvirtError:
            return
        for fn in list(self._lifecycle):
            try:
                fn(self, name, event, detail)
            except Exception:  # pragma: no cover
                log.exception("lifecycle listener")

    def _on_close(self, conn, reason, opaque) -> None:
        # Never take self._lock here: libvirt runs this callback while another thread may
        # hold the lock inside unregisterCloseCallback(), which waits for this very callback
        # to return (a deadlock seen in CI). Forgetting the connection is one atomic
        # assignment; _connect drops the stale callback ids under its lock.
        if self._conn is conn:
            self._conn = None
        for fn in list(self._close):
            try:
                fn(self, reason)
            except Exception:  # pragma: no cover
                log.exception("close listener")

    def _error(self, e: libvirt.libvirtError, op: Op | str, name: str | None) -> HypervisorError:
        code = e.get_error_code()
        lost = False
        if not self.is_test:
            with self._lock:
                conn = self._conn
                if conn is not None:
                    try:
                        lost = not conn.isAlive()
                    except libvirt.libvirtError:
                        lost = True
                    if lost:
                        self._drop(conn)
                elif code in CONNECTION_CODES:
                    lost = True
        return HypervisorError(
            e.get_error_message() or str(e),
            op=op,
            vm=name,
            host=self.uri,
            code=code,
            transient=code not in PERMANENT_CODES,
            connection_lost=lost,
        )

    def _lookup(self, name: str, op: Op | str) -> libvirt.virDomain | None:
        conn = self._connect()
        try:
            return conn.lookupByName(name)
        except libvirt.libvirtError as e:
            if e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return None
            raise self._error(e, op, name) from e

    # ------------------------------------------------------------------ state
    def _state_file(self, name: str) -> str | None:
        known = self._state_files.get(name)
        if known and os.path.exists(known):
            return known
        default = self.default_state_file(name)
        return default if os.path.exists(default) else None

    def _info(self, dom: libvirt.virDomain | None, name: str) -> VMInfo:
        if dom is None:
            sf = self._state_file(name)
            if sf:
                return VMInfo(name, VMState.SUSPENDED, self.uri, state_file=sf, managed=name.startswith(self.prefix + "-"))
            return VMInfo(name, VMState.ABSENT, self.uri)
        try:
            st, _reason = dom.state()
            info = dom.info()
            uuid = dom.UUIDString()
            meta = parse_metadata(dom.XMLDesc(0))
        except libvirt.libvirtError as e:
            if e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return self._info(None, name)
            raise self._error(e, Op.INSPECT, name) from e
        state = _STATE.get(st, VMState.UNKNOWN)
        sf = None
        if state is VMState.SHUTOFF:
            sf = self._state_file(name)
            managed_image = False
            if not sf:
                try:
                    managed_image = bool(dom.hasManagedSaveImage(0))
                except libvirt.libvirtError:
                    managed_image = False
            if sf or managed_image:
                state = VMState.SUSPENDED
        return VMInfo(
            name,
            state,
            self.uri,
            vcpus=info[3],
            memory_mb=info[1] // 1024,
            uuid=uuid,
            managed=meta is not None or name.startswith(self.prefix + "-"),
            lease_id=(meta or {}).get("lease") or None,
            state_file=sf,
        )

    def inspect(self, name: str) -> VMInfo:
        return self._info(self._lookup(name, Op.INSPECT), name)

    def list(self) -> list[VMInfo]:
        conn = self._connect()
        try:
            doms = conn.listAllDomains(0)
        except libvirt.libvirtError as e:
            raise self._error(e, Op.LIST, None) from e
        out = {}
        for d in doms:
            try:
                name = d.name()
            except libvirt.libvirtError:
                continue
            info = self._info(d, name)
            if info.state is not VMState.ABSENT:
                out[name] = info
        if self.state_dir.is_dir():
            for f in self.state_dir.glob("*.save"):
                if f.stem not in out:
                    out[f.stem] = VMInfo(f.stem, VMState.SUSPENDED, self.uri, state_file=str(f), managed=True)
        return sorted(out.values(), key=lambda i: i.name)

    def host_info(self) -> HostInfo:
        conn = self._connect()
        try:
            model, mem_mb, cpus, *_ = conn.getInfo()
            return HostInfo(self.uri, conn.getType(), int(cpus), int(mem_mb))
        except libvirt.libvirtError as e:
            raise self._error(e, Op.INSPECT, None) from e

    def alive(self) -> bool:
        try:
            conn = self._connect()
            conn.getLibVersion()  # a round trip on remote connections
            return True
        except HypervisorError:
            return False
        except libvirt.libvirtError as e:
            self._error(e, Op.INSPECT, None)
            return False

    # ------------------------------------------------------------------ images
    def _pool(self) -> libvirt.virStoragePool | None:
        if not self.storage_pool:
            return None
        conn = self._connect()
        try:
            pool = conn.storagePoolLookupByName(self.storage_pool)
        except libvirt.libvirtError as e:
            if e.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_POOL:
                return None
            raise self._error(e, Op.STAGE_IMAGE, None) from e
        try:
            if not pool.isActive():
                pool.create(0)
        except libvirt.libvirtError as e:
            raise self._error(e, Op.STAGE_IMAGE, None) from e
        return pool

    @staticmethod
    def _vol(pool: libvirt.virStoragePool, name: str) -> libvirt.virStorageVol | None:
        try:
            return pool.storageVolLookupByName(name)
        except libvirt.libvirtError as e:
            if e.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_VOL:
                return None
            raise

    def stage_image(self, image: DiskImage, source: str | None = None) -> str:
        pool = self._pool()
        if pool is None:
            if source:
                return source  # shared storage: the image is already where the host can read it
            raise HypervisorError(
                f"no storage pool {self.storage_pool!r} and no image source", op=Op.STAGE_IMAGE, host=self.uri, transient=False
            )
        try:
            vol = self._vol(pool, image.id)
            if vol is None:
                size = max(1, int(image.size_mb))
                vol = pool.createXML(
                    f"<volume><name>{image.id}</name><capacity unit='M'>{size}</capacity>"
                    "<target><format type='qcow2'/></target></volume>",
                    0,
                )
                if source and os.path.exists(source):
                    self._upload(vol, source)
            return vol.path()
        except libvirt.libvirtError as e:
            raise self._error(e, Op.STAGE_IMAGE, None) from e

    def _upload(self, vol: libvirt.virStorageVol, source: str) -> None:
        conn = self._connect()
        size = os.path.getsize(source)
        stream = conn.newStream(0)
        vol.upload(stream, 0, size, 0)
        with open(source, "rb") as fh:
            stream.sendAll(lambda st, n, f: f.read(n), fh)
        stream.finish()

    def _prepare_disk(self, spec: VMSpec) -> tuple[str | None, str]:
        """(disk path, format) for a new VM: a copy-on-write overlay in the pool where possible."""
        if spec.image is None:
            return spec.image_path, "raw"
        pool = self._pool()
        if pool is None:
            return spec.image_path, "qcow2"
        try:
            base = self._vol(pool, spec.image.id)
            base_path = base.path() if base is not None else self.stage_image(spec.image, spec.image_path)
            overlay = self._vol(pool, f"{spec.name}.qcow2")
            if overlay is None:
                size = max(1, int(spec.image.size_mb))
                overlay = pool.createXML(
                    f"<volume><name>{spec.name}.qcow2</name><capacity unit='M'>{size}</capacity>"
                    "<target><format type='qcow2'/></target>"
                    f"<backingStore><path>{base_path}</path><format type='qcow2'/></backingStore></volume>",
                    0,
                )
            return overlay.path(), "qcow2"
        except libvirt.libvirtError as e:
            raise self._error(e, Op.DEPLOY, spec.name) from e

    def _delete_overlay(self, name: str) -> None:
        try:
            pool = self._pool()
            if pool is None:
                return
            vol = self._vol(pool, f"{name}.qcow2")
            if vol is not None:
                vol.delete(0)
        except (libvirt.libvirtError, HypervisorError) as e:
            log.warning("%s: could not delete overlay of %s: %s", self.uri, name, e)

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
        dom = self._lookup(spec.name, Op.DEPLOY)
        info = self._info(dom, spec.name)
        if info.state in (VMState.RUNNING, VMState.PAUSED):
            return info  # already deployed (a retry after a timeout, or adoption)
        if info.state is VMState.SUSPENDED:
            raise HypervisorError(
                "VM has saved state here; resume it instead of deploying", op=Op.DEPLOY, vm=spec.name, host=self.uri,
                transient=False,
            )
        try:
            if dom is None:
                disk, fmt = self._prepare_disk(spec)
                dom = self._connect().defineXML(self.xml_for(spec, disk, fmt))
            try:
                dom.create()
            except libvirt.libvirtError as e:
                if e.get_error_code() == libvirt.VIR_ERR_OPERATION_INVALID and dom.isActive():
                    return self._info(dom, spec.name)  # someone else started it meanwhile
                raise
            state = _STATE.get(dom.state()[0], VMState.UNKNOWN)
            uuid = dom.UUIDString()
        except libvirt.libvirtError as e:
            raise self._error(e, Op.DEPLOY, spec.name) from e
        # built from the spec: no need to read back and parse the domain XML
        return VMInfo(spec.name, state, self.uri, spec.vcpus, spec.memory_mb, uuid, True, spec.lease_id)

    def start(self, name: str) -> VMInfo:
        dom = self._lookup(name, Op.START)
        info = self._info(dom, name)
        if info.state in (VMState.RUNNING, VMState.PAUSED):
            return info
        if dom is None:
            raise HypervisorError("no such VM", op=Op.START, vm=name, host=self.uri, transient=False)
        try:
            dom.create()
        except libvirt.libvirtError as e:
            if e.get_error_code() != libvirt.VIR_ERR_OPERATION_INVALID:
                raise self._error(e, Op.START, name) from e
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
                    raise self._error(e, Op.DESTROY, name) from e
        sf = self._state_file(name)
        if sf:
            Path(sf).unlink(missing_ok=True)
        self._state_files.pop(name, None)
        self._delete_overlay(name)
        return VMInfo(name, VMState.ABSENT, self.uri)

    def _active(self, dom: libvirt.virDomain) -> bool:
        try:
            return bool(dom.isActive())
        except libvirt.libvirtError as e:
            if e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return False
            raise

    def shutdown(self, name: str, timeout: float = 30.0) -> VMInfo:
        dom = self._lookup(name, Op.SHUTDOWN)
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
            raise self._error(e, Op.SHUTDOWN, name) from e
        return self._remove(dom, name)

    def _hard_stop(self, dom: libvirt.virDomain) -> None:
        try:
            dom.destroy()
        except libvirt.libvirtError as e:
            if e.get_error_code() not in (libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_ERR_OPERATION_INVALID):
                raise

    def destroy(self, name: str) -> VMInfo:
        dom = self._lookup(name, Op.DESTROY)
        try:
            if dom is not None and self._active(dom):
                self._hard_stop(dom)
        except libvirt.libvirtError as e:
            raise self._error(e, Op.DESTROY, name) from e
        return self._remove(dom, name)

    def suspend(self, name: str, state_file: str | None = None) -> VMInfo:
        dom = self._lookup(name, Op.SUSPEND)
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
            raise self._error(e, Op.SUSPEND, name) from e
        return self._info(self._lookup(name, Op.SUSPEND), name)

    def resume(self, name: str, state_file: str | None = None) -> VMInfo:
        dom = self._lookup(name, Op.RESUME)
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
                    self._connect().restore(path)
                except libvirt.libvirtError as e:
                    # restoring a VM that is already active: it runs, which is what we want
                    if e.get_error_code() != libvirt.VIR_ERR_OPERATION_INVALID:
                        raise
                    if not self._active(self._lookup(name, Op.RESUME) or dom):
                        raise
                Path(path).unlink(missing_ok=True)  # never restore the same memory twice
                self._state_files.pop(name, None)
                return self.inspect(name)
            if dom is not None and info.state is VMState.SUSPENDED:  # managed save
                dom.create()
                return self._info(dom, name)
        except libvirt.libvirtError as e:
            raise self._error(e, Op.RESUME, name) from e
        raise HypervisorError(f"no saved state to resume (VM is {info.state.value})", op=Op.RESUME, vm=name,
                              host=self.uri, transient=False)

    def _simple(self, name: str, op: Op, fn: Callable[[libvirt.virDomain], None], ok_states: tuple[VMState, ...],
                need: tuple[VMState, ...]) -> VMInfo:
        dom = self._lookup(name, op)
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
                raise self._error(e, op, name) from e
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
        dom = self._lookup(name, Op.MIGRATE)
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
                raise self._error(e, Op.MIGRATE, name) from e
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
        dom = self._lookup(name, Op.MIGRATE)
        if dom is None:
            raise HypervisorError("no such VM", op=Op.MIGRATE, vm=name, host=self.uri, transient=False)
        flags = libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PERSIST_DEST | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE
        try:
            dom.migrate(dest._connect(), flags, None, dest.migration_uri(), 0)
        except libvirt.libvirtError as e:
            raise self._error(e, Op.MIGRATE, name) from e
        return dest.inspect(name)
