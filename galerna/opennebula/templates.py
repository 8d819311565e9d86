"""Leases from OpenNebula VM templates: the ``HAIZEA`` and ``GALERNA`` vectors of a VM's user template.

``HAIZEA = [ START, DURATION, PREEMPTIBLE, GROUP ]`` keeps Haizea 1.0's value
syntax: START is ``best_effort``, ``now``, an ISO time or ``+HH:MM:SS``
(relative to the VM's submission, its STIME); DURATION is ``unlimited`` (the
longest run the lease bounds allow, ten years) or ``HH:MM:SS``; PREEMPTIBLE ``yes``/``no``.
Every value is then held to the lease bounds that every inlet checks
(:mod:`galerna.model.bounds`). ``GALERNA = [...]`` takes the same
keys plus DEADLINE (ISO or ``+HH:MM:SS``) and TENANT. A VM with neither gets
the configured defaults. VMs of one owner sharing a GROUP are one multi-node
all-or-nothing lease. Every bad value is reported in one message an
OpenNebula user can read in the VM's SCHED_MESSAGE.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

from galerna.model import bounds
from galerna.model.lease import LeaseRequest, LeaseType
from galerna.config.opennebula import OpenNebulaConfig
from galerna.opennebula.objects import OneVM

#: what "unlimited" means: the longest run the lease bounds allow (Haizea took a century, which no inlet admits now)
UNLIMITED = bounds.MAX_DURATION
#: where a lease bound's field lives in a VM's template
_BOUND_KEY = {"duration": "DURATION", "start": "START", "deadline": "DEADLINE", "tenant": "TENANT"}
HAIZEA_KEYS = frozenset({"START", "DURATION", "PREEMPTIBLE", "GROUP"})
GALERNA_KEYS = HAIZEA_KEYS | {"DEADLINE", "TENANT"}
_HMS = re.compile(r"^(\d+):([0-5]?\d):([0-5]?\d(?:\.\d+)?)$")
_YES = {"yes": True, "no": False, "true": True, "false": False}


class TemplateError(ValueError):
    """A VM's lease attributes cannot be read; the message says which value and why."""

    def __init__(self, vm_id: int, problems: list[str]):
        self.vm_id = vm_id
        self.problems = problems
        super().__init__("; ".join(problems))


def parse_hms(text: str) -> float:
    """``HH:MM:SS`` (hours may exceed 24, seconds may have a fraction) as seconds."""
    m = _HMS.match(text.strip())
    if not m:
        raise ValueError(f"{text!r} is not HH:MM:SS")
    return int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3])


def parse_instant(text: str, submit: float) -> float:
    """An ISO time (no zone = UTC) or ``+HH:MM:SS`` after ``submit``, as POSIX seconds."""
    t = text.strip()
    if t.startswith("+"):
        return submit + parse_hms(t[1:])
    try:
        when = datetime.fromisoformat(t)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO time (YYYY-MM-DD HH:MM:SS) or +HH:MM:SS") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()


@dataclass(frozen=True)
class VMAsk:
    """What one VM asks for, read from its template."""

    vm_id: int
    owner: int
    submit: float
    type: LeaseType
    duration: float
    cpu: float
    memory: float
    start: float | None = None
    deadline: float | None = None
    preemptible: bool = True
    group: str | None = None
    tenant: str | None = None
    source: str = "defaults"  # HAIZEA, GALERNA or defaults

    def terms(self) -> tuple:
        """What the VMs of one group must agree on."""
        return (self.type, self.start, self.duration, self.deadline, self.preemptible, self.tenant)


def _vector(vm: OneVM) -> tuple[str, Mapping[str, Any]]:
    ut = vm.user_template
    haizea, galerna = ut.get("HAIZEA"), ut.get("GALERNA")
    if haizea is not None and galerna is not None:
        raise TemplateError(vm.id, ["give HAIZEA or GALERNA, not both"])
    name, vec = ("GALERNA", galerna) if galerna is not None else ("HAIZEA", haizea)
    if vec is None:
        return "defaults", {}
    if isinstance(vec, list):
        raise TemplateError(vm.id, [f"{name} appears more than once"])
    if not isinstance(vec, Mapping):
        raise TemplateError(vm.id, [f"{name} must be a vector: {name} = [ START = ..., DURATION = ... ]"])
    return name, {str(k).upper(): v for k, v in vec.items()}


def parse_vm(vm: OneVM, defaults: OpenNebulaConfig | None = None) -> VMAsk:
    """The lease terms of one VM; :class:`TemplateError` lists every bad value."""
    d = defaults or OpenNebulaConfig()
    source, vec = _vector(vm)
    allowed = GALERNA_KEYS if source == "GALERNA" else HAIZEA_KEYS
    problems = [f"{source}/{k}: unknown attribute (known: {', '.join(sorted(allowed))})"
                for k in vec if k not in allowed]
    for k, v in vec.items():
        if not isinstance(v, str) and k in allowed:
            problems.append(f"{source}/{k}: must be a single value")
    vec = {k: v.strip() for k, v in vec.items() if isinstance(v, str)}
    where = source if source != "defaults" else "[opennebula] default"

    start_text = vec.get("START", d.default_start)
    start: float | None = None
    kind = LeaseType.BE
    low = start_text.lower()
    if low == "best_effort":
        kind = LeaseType.BE
    elif low == "now":
        kind = LeaseType.IM
    else:
        try:
            start = parse_instant(start_text, vm.stime)
            kind = LeaseType.AR
        except ValueError as e:
            problems.append(f"{where}/START: {e}; use best_effort, now, an ISO time or +HH:MM:SS")

    duration = 0.0
    dur_text = vec.get("DURATION", d.default_duration)
    if dur_text.lower() == "unlimited":
        duration = UNLIMITED
    else:
        try:
            duration = parse_hms(dur_text)
            if duration <= 0:
                problems.append(f"{where}/DURATION: must be longer than 00:00:00")
        except ValueError as e:
            problems.append(f"{where}/DURATION: {e}; use unlimited or HH:MM:SS")

    preemptible = d.default_preemptible
    if "PREEMPTIBLE" in vec:
        p = _YES.get(vec["PREEMPTIBLE"].lower())
        if p is None:
            problems.append(f"{source}/PREEMPTIBLE: {vec['PREEMPTIBLE']!r} is not yes or no")
        else:
            preemptible = p

    deadline = None
    if "DEADLINE" in vec:
        try:
            deadline = parse_instant(vec["DEADLINE"], vm.stime)
        except ValueError as e:
            problems.append(f"GALERNA/DEADLINE: {e}")
        else:
            if kind is LeaseType.IM:
                problems.append("GALERNA/DEADLINE: START = now takes no deadline (it runs now or is refused)")
            start = vm.stime if start is None else start
            kind = LeaseType.DEADLINE
            if duration and deadline < start + duration:
                problems.append("GALERNA/DEADLINE: earlier than START + DURATION")

    group = vec.get("GROUP") or None
    tenant = vec.get("TENANT") or None
    mapped = d.tenants_of(vm.uname, vm.gname)
    if mapped is not None:  # checked against the owner, not trusted
        if not mapped:
            problems.append(f"GALERNA/TENANT: OpenNebula user {vm.uname} (group {vm.gname}) has no Galerna tenant; "
                            "an administrator maps it in [opennebula.tenants]")
        elif tenant is None:
            tenant = mapped[0]
        elif tenant not in mapped:
            problems.append(f"GALERNA/TENANT: user {vm.uname} (group {vm.gname}) may not use tenant {tenant!r}; "
                            f"allowed: {', '.join(mapped)}")
    memory = vm.memory
    if memory is None or memory <= 0:
        problems.append("TEMPLATE/MEMORY: missing (MB)")
    try:
        cpu = vm.cpu
        if cpu <= 0:
            problems.append("TEMPLATE/CPU: must be positive")
    except ValueError:
        problems.append(f"TEMPLATE/CPU: {vm.template.get('CPU')!r} is not a number")
        cpu = 0.0
    if not problems:
        problems += _out_of_bounds(where, duration, cpu, memory, start, deadline, tenant)
    if problems:
        raise TemplateError(vm.id, problems)
    return VMAsk(vm_id=vm.id, owner=vm.uid, submit=vm.stime, type=kind, duration=duration, cpu=cpu,
                 memory=float(memory), start=start, deadline=deadline, preemptible=preemptible, group=group,
                 tenant=tenant, source=source)


def _out_of_bounds(where: str, duration: float, cpu: float, memory: float, start: float | None,
                   deadline: float | None, tenant: str | None) -> list[str]:
    """The lease bounds every inlet checks (:mod:`galerna.model.bounds`), named as the template names the value."""
    try:
        bounds.check_lease(duration=duration, nodes=[{"cpu": cpu, "memory": float(memory)}], start=start,
                           deadline=deadline, tenant=tenant)
    except bounds.OutOfBounds as e:
        key = _BOUND_KEY.get(e.field)
        return [f"{where}/{key}: {e.msg}" if key else f"TEMPLATE/{e.field.rsplit('.', 1)[-1].upper()}: {e.msg}"]
    return []


@dataclass(frozen=True)
class OneLease:
    """A lease made of OpenNebula VMs: VM ``vm_ids[i]`` is the lease's node ``i``."""

    request: LeaseRequest
    vm_ids: tuple[int, ...]


@dataclass(frozen=True)
class Refusal:
    """VMs Galerna will not schedule, with the reason their owner sees. ``hold``: an AR, kept on HOLD."""

    vm_ids: tuple[int, ...]
    reason: str
    hold: bool = False


@dataclass
class Collected:
    leases: list[OneLease] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    waiting: list[int] = field(default_factory=list)  # group members still settling


def lease_id(vm_ids: Iterable[int]) -> str:
    """``one-<lowest VM id>``: stable across restarts for the same VMs."""
    return f"one-{min(vm_ids)}"


def lease_from(asks: list[VMAsk], tenant_default: str | None = None) -> OneLease:
    asks = sorted(asks, key=lambda a: a.vm_id)
    a = asks[0]
    ids = tuple(x.vm_id for x in asks)
    extra = {"opennebula_vms": ",".join(map(str, ids)), "opennebula_source": a.source}
    if a.group:
        extra["opennebula_group"] = a.group
        extra["opennebula_owner"] = str(a.owner)
    req = LeaseRequest(
        id=lease_id(ids),
        type=a.type,
        submit=max(x.submit for x in asks),
        duration=a.duration,
        nodes=tuple({"cpu": x.cpu, "memory": x.memory} for x in asks),
        start=a.start,
        deadline=a.deadline,
        preemptible=a.preemptible,
        tenant=a.tenant or tenant_default,
        extra=extra,
    )
    return OneLease(req, ids)


def _is_ar(vm: OneVM) -> bool:
    """Whether a VM whose template failed to parse meant a start time (then it is held, not left pending)."""
    for name in ("GALERNA", "HAIZEA"):
        vec = vm.user_template.get(name)
        if isinstance(vec, Mapping):
            s = str({str(k).upper(): v for k, v in vec.items()}.get("START", "")).strip().lower()
            if s and s not in ("best_effort", "now"):
                return True
    return False


def collect(vms: Iterable[OneVM], now: float, defaults: OpenNebulaConfig | None = None,
            tenant_of: Mapping[int, str] | None = None) -> Collected:
    """Turn new pending VMs into leases, refusals, and group members still waiting for their peers.

    A group becomes a lease once its newest member is ``group_settle`` seconds
    old; members must agree on every term, else the whole group is refused.
    ``tenant_of`` maps an OpenNebula owner id to the tenant of its leases
    (default: the owner's user name).
    """
    d = defaults or OpenNebulaConfig()
    out = Collected()
    groups: dict[tuple[int, str], list[VMAsk]] = {}
    names: dict[int, str] = {}
    for vm in vms:
        names[vm.uid] = vm.uname
        try:
            ask = parse_vm(vm, d)
        except TemplateError as e:
            out.refusals.append(Refusal((vm.id,), str(e), hold=_is_ar(vm)))
            continue
        if ask.group:
            groups.setdefault((ask.owner, ask.group), []).append(ask)
        else:
            out.leases.append(lease_from([ask], _tenant(ask.owner, names, tenant_of)))
    for (owner, group), asks in groups.items():
        if now - max(a.submit for a in asks) < d.group_settle:
            out.waiting += [a.vm_id for a in asks]
            continue
        ids = tuple(sorted(a.vm_id for a in asks))
        if len({a.terms() for a in asks}) > 1:
            out.refusals.append(Refusal(ids, f"GROUP {group}: its VMs ({', '.join(map(str, ids))}) disagree on "
                                             "START, DURATION, PREEMPTIBLE, DEADLINE or TENANT",
                                        hold=any(a.type is LeaseType.AR for a in asks)))
            continue
        out.leases.append(lease_from(asks, _tenant(owner, names, tenant_of)))
    return out


def _tenant(owner: int, names: Mapping[int, str], tenant_of: Mapping[int, str] | None) -> str | None:
    if tenant_of and owner in tenant_of:
        return tenant_of[owner]
    return names.get(owner) or None


def write_back(lease_id_: str, state: str, planned_start: float | None, message: str | None = None) -> str:
    """The user-template text Galerna merges into a lease's VMs (``one.vm.update`` type 1)."""
    lines = [f'GALERNA_LEASE_ID = "{_q(lease_id_)}"', f'GALERNA_STATE = "{_q(state)}"']
    if planned_start is not None:  # else the one written before stays
        start = datetime.fromtimestamp(planned_start, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        lines.append(f'GALERNA_PLANNED_START = "{start}"')
    if message is not None:
        lines.append(f'SCHED_MESSAGE = "{_q(message)}"')
    return "\n".join(lines)


def _q(text: str) -> str:
    """A value for OpenNebula's template syntax: backslashes and quotes escaped, one line."""
    return " ".join(str(text).replace("\\", "\\\\").replace('"', '\\"').split())
