"""Monitoring: libvirt lifecycle events plus a periodic reconcile with every host.

A host whose connection drops (close callback, keepalive timeout, or a poll
that fails or hangs) goes to ``error`` and its VMs to ``unknown``. When it
answers again it goes back to ``up`` and its VMs to what it reports. Host
changes are passed on to listeners (the recovery manager).
"""
from __future__ import annotations

import logging
import threading
from typing import Callable, Mapping

import libvirt

from galerna.enact.driver import Driver, HostState, HypervisorError, OperationKind as Op, VMInfo, VMState
from galerna.enact.inventory import Inventory
from galerna.enact.retry import call_with_timeout

log = logging.getLogger(__name__)

HostListener = Callable[[str, HostState, HostState], None]

_EVENT_STATE = {
    libvirt.VIR_DOMAIN_EVENT_STARTED: VMState.RUNNING,
    libvirt.VIR_DOMAIN_EVENT_RESUMED: VMState.RUNNING,
    libvirt.VIR_DOMAIN_EVENT_SUSPENDED: VMState.PAUSED,
    libvirt.VIR_DOMAIN_EVENT_CRASHED: VMState.CRASHED,
    libvirt.VIR_DOMAIN_EVENT_UNDEFINED: VMState.ABSENT,
}


def event_state(event: int, detail: int) -> VMState | None:
    """The VM state a lifecycle event leads to (None: no change worth recording)."""
    if event == libvirt.VIR_DOMAIN_EVENT_STOPPED:
        if detail == libvirt.VIR_DOMAIN_EVENT_STOPPED_SAVED:
            return VMState.SUSPENDED
        if detail == libvirt.VIR_DOMAIN_EVENT_STOPPED_CRASHED:
            return VMState.CRASHED
        return VMState.SHUTOFF
    return _EVENT_STATE.get(event)


def _base(driver: Driver) -> Driver:
    while hasattr(driver, "inner"):
        driver = driver.inner  # type: ignore[attr-defined]
    return driver


class Monitor:
    def __init__(
        self,
        drivers: Mapping[str, Driver],
        inventory: Inventory,
        *,
        interval: float = 30.0,
        poll_timeout: float = 10.0,
        after_poll: Callable[[], None] | None = None,
    ):
        self.drivers = dict(drivers)
        self.inventory = inventory
        self.interval = interval
        self.poll_timeout = poll_timeout
        self.after_poll = after_poll
        self.events: list[tuple[str, str, VMState]] = []  # (host, vm, state) from lifecycle events
        self.seen: dict[str, dict[str, VMInfo]] = {}  # last listing per host
        self._host_listeners: list[HostListener] = []
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._event_seq = 0
        self._last_event: dict[str, int] = {}  # VM -> sequence number of its latest event
        self._listening: set[str] = set()  # URIs whose driver passes us its lifecycle and close events
        for uri in self.drivers:
            inventory.hosts.setdefault(uri, HostState.UP)

    def on_host_change(self, fn: HostListener) -> None:
        self._host_listeners.append(fn)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        for uri, d in self.drivers.items():
            self.listen(uri, d)
        self._thread = threading.Thread(target=self._loop, name="enact-monitor", daemon=True)
        self._thread.start()

    def listen(self, uri: str, driver) -> bool:  # noqa: ANN001
        """Take lifecycle and close events from ``driver`` (a host's hypervisor at ``uri``).
        False when the driver has no events to give (the simulated one)."""
        if uri in self._listening:
            return True  # once per driver: one kept from before its host was removed still has our listeners
        base = _base(driver)
        if not hasattr(base, "add_lifecycle_listener"):
            return False
        base.add_lifecycle_listener(lambda drv, name, ev, det, uri=uri: self._on_event(uri, name, ev, det))
        base.add_close_listener(lambda drv, reason, uri=uri: self._on_close(uri, reason))
        self._listening.add(uri)
        return True

    def attach(self, uri: str, driver: Driver) -> None:
        """Watch a host added while running. A new dict, not a changed one: the poll may be iterating the old."""
        self.drivers = {**self.drivers, uri: driver}
        self.listen(uri, driver)

    def detach(self, uri: str) -> None:
        """Stop watching a removed host and forget its last listing."""
        self.drivers = {u: d for u, d in self.drivers.items() if u != uri}
        self.seen.pop(uri, None)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self.poll_timeout + 5)

    def wake(self) -> None:
        """Poll now instead of at the next interval."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
            except Exception:  # pragma: no cover - the monitor must survive anything
                log.exception("monitor poll")
            self._wake.wait(self.interval)
            self._wake.clear()

    # ------------------------------------------------------------------ inputs
    def _on_event(self, uri: str, name: str, event: int, detail: int) -> None:
        state = event_state(event, detail)
        if state is None:
            return
        self.events.append((uri, name, state))
        with self._lock:
            self._event_seq += 1
            self._last_event[name] = self._event_seq
        rec = self.inventory.get(name)
        if rec is not None and rec.host == uri:
            self.inventory.observe(name, state)

    def _on_close(self, uri: str, reason: int) -> None:
        log.warning("connection to %s closed (reason %s)", uri, reason)
        self.set_host(uri, HostState.ERROR)
        self._wake.set()

    def set_host(self, uri: str, state: HostState) -> None:
        with self._lock:
            old = self.inventory.hosts.get(uri, HostState.UP)
            self.inventory.hosts[uri] = state
        if state is HostState.ERROR:
            for rec in self.inventory.on_host(uri):
                self.inventory.observe(rec.name, VMState.UNKNOWN)
        if old is not state:
            log.warning("host %s: %s -> %s", uri, old.value, state.value)
            for fn in list(self._host_listeners):
                fn(uri, old, state)

    # ------------------------------------------------------------------ reconcile
    def poll(self) -> None:
        """One full pass: list every host; mark unreachable ones; refresh observed VM states."""
        for uri, d in self.drivers.items():
            mark = self._event_seq  # events after this are newer than the listing
            try:
                listing = call_with_timeout(d.list, self.poll_timeout, op=Op.LIST, host=uri)
            except HypervisorError as e:
                log.warning("host %s does not answer: %s", uri, e)
                self.set_host(uri, HostState.ERROR)
                continue
            except Exception as e:  # noqa: BLE001
                log.warning("host %s: %s", uri, e)
                self.set_host(uri, HostState.ERROR)
                continue
            found = {i.name: i for i in listing}
            self.seen[uri] = found
            self.set_host(uri, HostState.UP)
            for rec in self.inventory.on_host(uri):
                if self._last_event.get(rec.name, 0) > mark:
                    continue  # an event told us something newer while we listed
                info = found.get(rec.name)
                self.inventory.observe(rec.name, info.state if info else VMState.ABSENT)
        if self.after_poll is not None:
            self.after_poll()

