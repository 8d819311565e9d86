"""The daemon's side of OpenNebula 7's SCHED_MAD: what Galerna answers when oned asks where to place VMs.

The daemon keeps a :class:`PlanBook`: the VMs it wants started now (each
with its host and system datastore) and a message per VM (why it waits, or
why it was refused). The SCHED_MAD driver program forwards every PLACE
document to the daemon over a Unix socket (:class:`PlanServer`), gets the
PLAN and the LOG lines back, and hands them to oned. A PLACE also brings the
pending VMs, so the book passes them to ``on_pending`` (the daemon turns new
ones into leases before answering).
"""
from __future__ import annotations

import json
import logging
import os
import socket
import socketserver
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from galerna.opennebula.objects import OneVM
from galerna.opennebula.sched_protocol import DriverAction, PlanAction, parse_driver_action, plan_xml

log = logging.getLogger(__name__)

LogEntry = tuple[str, int, str]  # level (I/W/E/D), VM id, text


@dataclass(frozen=True)
class Wish:
    vm_id: int
    host_id: int
    ds_id: int = -1


class PlanBook:
    def __init__(self, datastore: int = -1, on_pending: Callable[[list[OneVM]], None] | None = None):
        self.datastore = datastore
        self.on_pending = on_pending
        self._lock = threading.Lock()
        self._wishes: dict[int, Wish] = {}
        self._notes: dict[int, tuple[str, str]] = {}

    def want(self, vm_id: int, host_id: int, ds_id: int | None = None) -> None:
        """Galerna wants this VM started now on this host."""
        with self._lock:
            self._wishes[vm_id] = Wish(vm_id, host_id, self.datastore if ds_id is None else ds_id)

    def drop(self, vm_id: int) -> None:
        with self._lock:
            self._wishes.pop(vm_id, None)

    def wishes(self) -> dict[int, Wish]:
        with self._lock:
            return dict(self._wishes)

    def note(self, vm_id: int, level: str, text: str) -> None:
        """What oned shows for this VM at the next PLACE (``E``: a refusal, shown as its SCHED_MESSAGE)."""
        with self._lock:
            self._notes[vm_id] = (level, text)

    def clear_note(self, vm_id: int) -> None:
        with self._lock:
            self._notes.pop(vm_id, None)

    def answer(self, action: DriverAction) -> tuple[list[PlanAction], list[LogEntry]]:
        if self.on_pending is not None and action.vms:
            try:
                self.on_pending(action.vms)
            except Exception:  # noqa: BLE001 - a PLACE still gets an answer
                log.exception("ingesting the VMs of a PLACE")
        actions: list[PlanAction] = []
        logs: list[LogEntry] = []
        with self._lock:
            for vm in action.vms:
                wish = self._wishes.get(vm.id)
                allowed = action.hosts_allowed.get(vm.id)
                if wish is not None and (allowed is None or wish.host_id in allowed):
                    ds = wish.ds_id if wish.ds_id >= 0 else self._datastore_for(vm.id, action)
                    actions.append(PlanAction(vm.id, "deploy", wish.host_id, ds))
                    continue
                if wish is not None:
                    logs.append(("W", vm.id, f"Galerna planned host {wish.host_id}, but OpenNebula's requirements "
                                             f"allow only hosts {allowed}"))
                note = self._notes.get(vm.id)
                if note is not None:
                    logs.append((note[0], vm.id, note[1]))
        return actions, logs

    def _datastore_for(self, vm_id: int, action: DriverAction) -> int:
        """The first system datastore match-making allows for the VM (-1: oned's default)."""
        allowed = action.datastores_allowed.get(vm_id) or []
        system = [d for d in allowed if not action.system_datastores or d in action.system_datastores]
        return system[0] if system else (allowed[0] if allowed else -1)

    def answer_document(self, document: bytes) -> dict:
        """The JSON the plan socket sends back: the PLAN XML and the LOG entries."""
        actions, logs = self.answer(parse_driver_action(document))
        return {"plan": plan_xml(-1, actions), "logs": [list(x) for x in logs]}


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        data = self.rfile.read()
        try:
            out = self.server.book.answer_document(data)  # type: ignore[attr-defined]
        except Exception as e:  # noqa: BLE001 - the driver reports it to oned as a FAILURE
            out = {"error": f"{type(e).__name__}: {e}"}
        self.wfile.write(json.dumps(out).encode("utf-8"))


class PlanServer:
    """A Unix socket that answers the SCHED_MAD driver (mode 0660: oned's user must be in its group)."""

    def __init__(self, path: str | os.PathLike, book: PlanBook):
        self.path = Path(path)
        self.book = book
        self._server: socketserver.ThreadingUnixStreamServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> "PlanServer":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            self.path.unlink()
        srv = socketserver.ThreadingUnixStreamServer(str(self.path), _Handler)
        srv.daemon_threads = True
        srv.book = self.book  # type: ignore[attr-defined]
        os.chmod(self.path, 0o660)
        self._server = srv
        self._thread = threading.Thread(target=srv.serve_forever, name="one-plan-socket", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self.path.exists():
            self.path.unlink()


def ask(path: str | os.PathLike, document: bytes, timeout: float = 20.0) -> dict:
    """The SCHED_MAD side: send one PLACE document, get the daemon's answer (raises OSError when it is down)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(path))
        s.sendall(document)
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return json.loads(b"".join(chunks).decode("utf-8"))
