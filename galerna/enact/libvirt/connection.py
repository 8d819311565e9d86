"""One libvirt connection per host URI, with its lifecycle and close events.

A *connection* to a ``test:///path/node.xml`` file is an independent
hypervisor, so a test connection is opened once and never reopened; remote
connections are reopened after they drop. libvirt errors become
:class:`HypervisorError`, saying whether retrying can help and whether the
connection was lost.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable

import libvirt

from galerna.enact.driver import HypervisorError, OperationKind as Op, uri_scheme
from galerna.enact.libvirt.codes import CONNECTION_CODES, PERMANENT_CODES

log = logging.getLogger(__name__)

#: (driver, domain name, libvirt event, detail); the driver is the connection's owner
LifecycleListener = Callable[[Any, str, int, int], None]
#: (driver, libvirt close reason)
CloseListener = Callable[[Any, int], None]


class Connection:
    """The connection of one driver to its host; listeners get the owning driver as first argument."""

    def __init__(self, owner: Any, uri: str, keepalive: tuple[int, int] = (5, 3)):
        self.owner = owner
        self.uri = uri
        self.is_test = uri_scheme(uri) == "test"
        self.keepalive = keepalive
        self._conn: libvirt.virConnect | None = None
        self._lock = threading.RLock()
        self._lifecycle: list[LifecycleListener] = []
        self._close: list[CloseListener] = []
        self._callback_ids: list[int] = []

    def get(self) -> libvirt.virConnect:
        """The live connection, opened (again, for a remote URI that dropped) when needed."""
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
                fn(self.owner, name, event, detail)
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
                fn(self.owner, reason)
            except Exception:  # pragma: no cover
                log.exception("close listener")

    def error(self, e: libvirt.libvirtError, op: Op | str, name: str | None) -> HypervisorError:
        """The HypervisorError for a libvirt error, dropping the connection when the error lost it."""
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

    def lookup(self, name: str, op: Op | str) -> libvirt.virDomain | None:
        """The domain called ``name``, or None when there is none."""
        conn = self.get()
        try:
            return conn.lookupByName(name)
        except libvirt.libvirtError as e:
            if e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return None
            raise self.error(e, op, name) from e
