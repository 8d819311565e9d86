"""oned's scheduler-driver protocol: the line framing, the SCHEDULER_DRIVER_ACTION input and the PLAN output.

Each line is ``TYPE STATUS ID PAYLOAD`` with a base64, uncompressed payload
(``include/ProtocolMessages.h``). oned writes ``PLACE  -1 <b64>`` with an
empty status (two spaces), so a line is split on whitespace and its last
token is the payload.
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

from galerna.opennebula.objects import OneHost, OneVM, host_from_xml, vm_from_xml


class ProtocolError(ValueError):
    """A line or document oned would not have sent."""


@dataclass(frozen=True)
class Message:
    type: str
    status: str
    id: str
    payload: bytes


def b64(text: str | bytes) -> str:
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return base64.b64encode(raw).decode("ascii")


def parse_line(line: str) -> Message:
    """``INIT``, ``FINALIZE``, ``PLACE  -1 <b64>``, ``OPTIMIZE  <cid> <b64>``."""
    parts = line.split()
    if not parts:
        raise ProtocolError("empty line")
    kind = parts[0].upper()
    if kind in ("INIT", "FINALIZE"):
        return Message(kind, "", "", b"")
    if len(parts) < 3:
        raise ProtocolError(f"{kind}: expected '{kind} <id> <base64 document>', got {len(parts)} fields")
    status = parts[1] if len(parts) > 3 else ""
    try:
        payload = base64.b64decode(parts[-1], validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError(f"{kind}: the payload is not base64") from None
    return Message(kind, status, parts[-2], payload)


def reply(kind: str, ok: bool, msg_id: str, payload: str | bytes | None = None) -> str:
    """``PLACE SUCCESS -1 <b64(plan)>`` and friends (no trailing newline)."""
    head = f"{kind} {'SUCCESS' if ok else 'FAILURE'}"
    if not msg_id:
        return head
    return f"{head} {msg_id} {b64(payload if payload is not None else '-')}"


def log_line(level: str, vm_id: int, text: str) -> str:
    """``LOG <I|W|E|D> <vm_id> <b64(text)>``: ``E`` also sets the VM's USER_TEMPLATE/SCHED_MESSAGE."""
    if level not in ("I", "W", "E", "D"):
        raise ValueError(f"log level must be I, W, E or D, got {level!r}")
    return f"LOG {level} {vm_id} {b64(text)}"


@dataclass
class DriverAction:
    """What one PLACE/OPTIMIZE brings: pending VMs, monitored hosts, and what match-making allows each VM."""

    vms: list[OneVM] = field(default_factory=list)
    hosts: list[OneHost] = field(default_factory=list)
    hosts_allowed: dict[int, list[int]] = field(default_factory=dict)
    datastores_allowed: dict[int, list[int]] = field(default_factory=dict)
    system_datastores: list[int] = field(default_factory=list)


def parse_driver_action(document: bytes | str) -> DriverAction:
    try:
        root = ET.fromstring(document)
    except ET.ParseError as e:
        raise ProtocolError(f"SCHEDULER_DRIVER_ACTION is not XML: {e}") from None
    if root.tag != "SCHEDULER_DRIVER_ACTION":
        raise ProtocolError(f"expected <SCHEDULER_DRIVER_ACTION>, got <{root.tag}>")
    out = DriverAction()
    out.vms = [vm_from_xml(e) for e in root.findall("VM_POOL/VM")]
    out.hosts = [host_from_xml(e) for e in root.findall("HOST_POOL/HOST")]
    for ds in root.findall("DATASTORE_POOL/DATASTORE"):
        if (ds.findtext("TYPE") or "").strip() == "1":  # SYSTEM_DS
            out.system_datastores.append(int(ds.findtext("ID") or -1))
    for req in root.findall("REQUIREMENTS/VM"):
        vid = int(req.findtext("ID") or -1)
        out.hosts_allowed[vid] = [int(x.text or -1) for x in req.findall("HOSTS/ID")]
        out.datastores_allowed[vid] = [int(x.text or -1) for x in req.findall("DATASTORES/ID")]
    return out


@dataclass(frozen=True)
class PlanAction:
    vm_id: int
    operation: str
    host_id: int
    ds_id: int


def plan_xml(plan_id: int, actions: list[PlanAction]) -> str:
    """A PLAN; every action carries HOST_ID and DS_ID (oned rejects the whole plan otherwise)."""
    body = "".join(
        f"<ACTION><VM_ID>{a.vm_id}</VM_ID><OPERATION>{escape(a.operation)}</OPERATION>"
        f"<HOST_ID>{a.host_id}</HOST_ID><DS_ID>{a.ds_id}</DS_ID></ACTION>"
        for a in actions)
    return f"<PLAN><ID>{plan_id}</ID>{body}</PLAN>"
