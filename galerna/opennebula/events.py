"""oned's events instead of polling: a ZeroMQ subscriber, plus the slow full reads that make up for lost events.

oned's hook manager publishes every VM and host state change on a ZeroMQ PUB
socket as ``[key, base64(HOOK_MESSAGE)]``; the message embeds the whole VM.
:class:`EventSubscriber` subscribes to ``EVENT STATE VM/`` and
``EVENT STATE HOST/`` and hands each VM to ``on_vm``. PUB/SUB drops messages
(slow joiners, a full queue, a restarted oned), so events are hints:
:class:`PoolReconciler` reads ``one.vmpool.infoextended`` at start, after
each (re)connection the subscriber sees, and every ``reconcile_interval``.
"""
from __future__ import annotations

import base64
import binascii
import logging
import threading
from dataclasses import dataclass
from typing import Callable
from xml.etree import ElementTree as ET

import zmq
from zmq.utils.monitor import recv_monitor_message

from galerna.opennebula.objects import OneVM, vm_from_xml

log = logging.getLogger(__name__)

VM_PREFIX = "EVENT STATE VM/"
HOST_PREFIX = "EVENT STATE HOST/"


@dataclass(frozen=True)
class HostEvent:
    host_id: int
    state: str


def parse_event(key: bytes, payload: bytes) -> OneVM | HostEvent | None:
    """One published message; None for anything Galerna does not use or cannot read."""
    k = key.decode("utf-8", "replace")
    try:
        text = base64.b64decode(payload, validate=True)
        root = ET.fromstring(text)
    except (binascii.Error, ValueError, ET.ParseError):
        log.warning("unreadable event %r", k.strip())
        return None
    if k.startswith(VM_PREFIX):
        vm = root.find("VM")
        return vm_from_xml(vm) if vm is not None else None
    if k.startswith(HOST_PREFIX):
        parts = k.strip().split("/")
        try:
            return HostEvent(int(parts[-1]), parts[1])
        except (IndexError, ValueError):
            return None
    return None


class EventSubscriber:
    """A thread reading oned's publisher; ``on_connect`` runs at every (re)connection (to reconcile)."""

    def __init__(self, endpoint: str, on_vm: Callable[[OneVM], None], *,
                 on_host: Callable[[HostEvent], None] | None = None, on_connect: Callable[[], None] | None = None,
                 context: zmq.Context | None = None):
        self.endpoint = endpoint
        self.on_vm, self.on_host, self.on_connect = on_vm, on_host, on_connect
        self._ctx = context or zmq.Context.instance()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()
        self.received = 0

    def start(self) -> "EventSubscriber":
        self._thread = threading.Thread(target=self._run, name="one-events", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        sub = self._ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        sub.setsockopt(zmq.RECONNECT_IVL, 200)
        sub.setsockopt(zmq.RECONNECT_IVL_MAX, 5000)
        mon = sub.get_monitor_socket(zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED)
        for prefix in (VM_PREFIX, HOST_PREFIX):
            sub.setsockopt_string(zmq.SUBSCRIBE, prefix)
        sub.connect(self.endpoint)
        poller = zmq.Poller()
        poller.register(sub, zmq.POLLIN)
        poller.register(mon, zmq.POLLIN)
        try:
            while not self._stop.is_set():
                for sock, _ in poller.poll(200):
                    if sock is mon:
                        self._monitor(recv_monitor_message(mon))
                    else:
                        self._message(sub.recv_multipart())
        finally:
            sub.disable_monitor()
            mon.close(0)
            sub.close(0)

    def _monitor(self, ev: dict) -> None:
        if ev["event"] == zmq.EVENT_CONNECTED:
            log.info("subscribed to oned's events at %s", self.endpoint)
            self.connected.set()
            self._call(self.on_connect)
        elif ev["event"] == zmq.EVENT_DISCONNECTED:
            log.warning("oned's event publisher at %s went away; reconnecting", self.endpoint)
            self.connected.clear()

    def _message(self, frames: list[bytes]) -> None:
        if len(frames) != 2:
            return
        ev = parse_event(frames[0], frames[1])
        self.received += 1
        if isinstance(ev, OneVM):
            self._call(self.on_vm, ev)
        elif isinstance(ev, HostEvent) and self.on_host is not None:
            self._call(self.on_host, ev)

    @staticmethod
    def _call(fn, *args) -> None:  # noqa: ANN001
        if fn is None:
            return
        try:
            fn(*args)
        except Exception:  # noqa: BLE001 - one bad event must not stop the stream
            log.exception("handling an OpenNebula event")


class PoolReconciler:
    """Full reads of oned's VM pool: now, on :meth:`request`, and every ``interval`` seconds."""

    def __init__(self, read: Callable[[], list[OneVM]], on_vms: Callable[[list[OneVM]], None], interval: float):
        self.read, self.on_vms, self.interval = read, on_vms, interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.passes = 0

    def start(self) -> "PoolReconciler":
        self._thread = threading.Thread(target=self._run, name="one-reconcile", daemon=True)
        self._thread.start()
        return self

    def request(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)

    def run_once(self) -> None:
        try:
            vms = self.read()
        except Exception as e:  # noqa: BLE001 - oned may be down; the next pass tries again
            log.warning("reading oned's VM pool failed: %s", e)
            return
        self.passes += 1
        try:
            self.on_vms(vms)
        except Exception:  # noqa: BLE001
            log.exception("reconciling with oned's VM pool")

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            self.run_once()
            self._wake.wait(self.interval)
