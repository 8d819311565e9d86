"""OpenNebula's VMs and hosts as plain values, read from oned's XML or from pyone's bindings.

Galerna's other modules see only these: ``OneVM`` and ``OneHost`` with
templates as dicts (a vector attribute is a dict, a repeated one a list),
state numbers with their names, and capacity in Galerna's units.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Mapping
from xml.etree import ElementTree as ET


class VMState(IntEnum):
    INIT = 0
    PENDING = 1
    HOLD = 2
    ACTIVE = 3
    STOPPED = 4
    SUSPENDED = 5
    DONE = 6
    FAILED = 7
    POWEROFF = 8
    UNDEPLOYED = 9
    CLONING = 10
    CLONING_FAILURE = 11


class LCMState(IntEnum):
    """The LCM states Galerna reasons about (others are transient and kept as numbers)."""

    LCM_INIT = 0
    PROLOG = 1
    BOOT = 2
    RUNNING = 3
    MIGRATE = 4
    SAVE_STOP = 5
    SAVE_SUSPEND = 6
    SAVE_MIGRATE = 7
    PROLOG_MIGRATE = 8
    PROLOG_RESUME = 9
    EPILOG_STOP = 10
    EPILOG = 11
    SHUTDOWN = 12
    UNKNOWN = 16
    BOOT_SUSPENDED = 21
    BOOT_STOPPED = 22
    BOOT_UNDEPLOY = 32
    BOOT_FAILURE = 36
    BOOT_MIGRATE_FAILURE = 37
    PROLOG_MIGRATE_FAILURE = 38
    PROLOG_FAILURE = 39
    EPILOG_FAILURE = 40


FAILURE_LCM = frozenset({LCMState.BOOT_FAILURE, LCMState.BOOT_MIGRATE_FAILURE, LCMState.PROLOG_MIGRATE_FAILURE,
                         LCMState.PROLOG_FAILURE, LCMState.EPILOG_FAILURE, 41, 42, 43, 44, 45, 46, 47})


class HostState(IntEnum):
    INIT = 0
    MONITORING_MONITORED = 1
    MONITORED = 2
    ERROR = 3
    DISABLED = 4
    MONITORING_ERROR = 5
    MONITORING_INIT = 6
    MONITORING_DISABLED = 7
    OFFLINE = 8


def state_name(state: int, lcm: int) -> str:
    """``ACTIVE/RUNNING``, ``PENDING``, ``ACTIVE/36``..."""
    try:
        s = VMState(state).name
    except ValueError:
        s = str(state)
    if state != VMState.ACTIVE:
        return s
    try:
        return f"{s}/{LCMState(lcm).name}"
    except ValueError:
        return f"{s}/{lcm}"


@dataclass(frozen=True)
class OneVM:
    id: int
    name: str
    uid: int
    state: int
    lcm_state: int
    stime: float
    template: Mapping[str, Any] = field(default_factory=dict)
    user_template: Mapping[str, Any] = field(default_factory=dict)
    host_id: int | None = None  # of the last history record
    ds_id: int | None = None
    uname: str = ""
    gname: str = ""  # the owner's group

    @property
    def state_name(self) -> str:
        return state_name(self.state, self.lcm_state)

    @property
    def cpu(self) -> float:
        """Cores (OpenNebula's TEMPLATE/CPU is fractional cores); VCPU or 1 when CPU is missing."""
        for key in ("CPU", "VCPU"):
            v = self.template.get(key)
            if v not in (None, ""):
                return float(v)
        return 1.0

    @property
    def memory(self) -> float | None:
        """MB (OpenNebula's TEMPLATE/MEMORY)."""
        v = self.template.get("MEMORY")
        return float(v) if v not in (None, "") else None

    def running(self) -> bool:
        return self.state == VMState.ACTIVE and self.lcm_state == LCMState.RUNNING

    def failed(self) -> bool:
        return self.state == VMState.ACTIVE and self.lcm_state in FAILURE_LCM


@dataclass(frozen=True)
class OneHost:
    id: int
    name: str
    state: int
    max_cpu: float  # OpenNebula units: cores x 100
    max_mem: float  # KB
    cpu_usage: float = 0.0
    mem_usage: float = 0.0
    cluster_id: int = 0

    @property
    def cpu(self) -> float:
        """Cores: MAX_CPU / 100."""
        return self.max_cpu / 100.0

    @property
    def memory(self) -> float:
        """MB: MAX_MEM / 1024."""
        return self.max_mem / 1024.0

    @property
    def monitored(self) -> bool:
        return self.state == HostState.MONITORED


# ------------------------------------------------------------------ from XML


def template_dict(elem: ET.Element | None) -> dict[str, Any]:
    """A TEMPLATE/USER_TEMPLATE element as a dict: vectors become dicts, repeated names lists."""
    out: dict[str, Any] = {}
    if elem is None:
        return out
    for child in elem:
        value: Any = template_dict(child) if len(child) else (child.text or "")
        if child.tag in out:
            prev = out[child.tag]
            out[child.tag] = (prev if isinstance(prev, list) else [prev]) + [value]
        else:
            out[child.tag] = value
    return out


def _int(elem: ET.Element, path: str, default: int = 0) -> int:
    text = elem.findtext(path)
    try:
        return int(text) if text not in (None, "") else default
    except ValueError:
        return int(float(text))


def vm_from_xml(elem: ET.Element) -> OneVM:
    history = elem.findall("HISTORY_RECORDS/HISTORY")
    last = history[-1] if history else None
    return OneVM(
        id=_int(elem, "ID"),
        name=elem.findtext("NAME") or "",
        uid=_int(elem, "UID"),
        uname=elem.findtext("UNAME") or "",
        gname=elem.findtext("GNAME") or "",
        state=_int(elem, "STATE"),
        lcm_state=_int(elem, "LCM_STATE"),
        stime=float(_int(elem, "STIME")),
        template=template_dict(elem.find("TEMPLATE")),
        user_template=template_dict(elem.find("USER_TEMPLATE")),
        host_id=_int(last, "HID", -1) if last is not None else None,
        ds_id=_int(last, "DS_ID", -1) if last is not None else None,
    )


def host_from_xml(elem: ET.Element) -> OneHost:
    return OneHost(
        id=_int(elem, "ID"),
        name=elem.findtext("NAME") or "",
        state=_int(elem, "STATE"),
        max_cpu=float(_int(elem, "HOST_SHARE/MAX_CPU")),
        max_mem=float(_int(elem, "HOST_SHARE/MAX_MEM")),
        cpu_usage=float(_int(elem, "HOST_SHARE/CPU_USAGE")),
        mem_usage=float(_int(elem, "HOST_SHARE/MEM_USAGE")),
        cluster_id=_int(elem, "CLUSTER_ID"),
    )


# ------------------------------------------------------------------ from pyone's bindings


def _plain(value: Any) -> Any:
    """pyone's OrderedDict templates as plain dicts and lists of strings."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return "" if value is None else str(value)


def vm_from_binding(vm: Any) -> OneVM:
    records = getattr(getattr(vm, "HISTORY_RECORDS", None), "HISTORY", None) or []
    last = records[-1] if records else None
    return OneVM(
        id=int(vm.ID),
        name=str(vm.NAME or ""),
        uid=int(vm.UID or 0),
        uname=str(getattr(vm, "UNAME", "") or ""),
        gname=str(getattr(vm, "GNAME", "") or ""),
        state=int(vm.STATE),
        lcm_state=int(vm.LCM_STATE),
        stime=float(vm.STIME or 0),
        template=_plain(vm.TEMPLATE or {}),
        user_template=_plain(vm.USER_TEMPLATE or {}),
        host_id=int(last.HID) if last is not None and last.HID is not None else None,
        ds_id=int(last.DS_ID) if last is not None and last.DS_ID is not None else None,
    )


def host_from_binding(h: Any) -> OneHost:
    share = h.HOST_SHARE
    return OneHost(
        id=int(h.ID),
        name=str(h.NAME or ""),
        state=int(h.STATE),
        max_cpu=float(share.MAX_CPU or 0),
        max_mem=float(share.MAX_MEM or 0),
        cpu_usage=float(share.CPU_USAGE or 0),
        mem_usage=float(share.MEM_USAGE or 0),
        cluster_id=int(getattr(h, "CLUSTER_ID", 0) or 0),
    )
