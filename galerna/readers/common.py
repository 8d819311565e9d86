"""Helpers shared by the readers: Haizea times, resource names, lease ids.

Kept apart so every format converts units the same way (a Haizea CPU of 100
is 1.0 core everywhere, ``Net (in)`` is ``net-in`` everywhere).
"""
from __future__ import annotations

import re
from types import MappingProxyType
from typing import Mapping

from galerna.model import DiskImage

_TIME = re.compile(r"^\s*([+-]?)\s*(\d+(?:\.\d*)?(?::\d+(?:\.\d*)?){0,3})\s*$")


def parse_duration(text: str) -> float:
    """Seconds in a Haizea time: ``[+]HH:MM:SS[.ss]``, ``D:HH:MM:SS``, ``H:MM`` or plain seconds.

    A leading ``+`` (annotation files: relative to the lease's arrival) is
    accepted and ignored; the caller knows what the time is relative to.
    Raises ValueError on anything else.
    """
    m = _TIME.match(text or "")
    if not m:
        raise ValueError(f"not a time: {text!r} (expected HH:MM:SS[.ss], D:HH:MM:SS or seconds)")
    sign = -1.0 if m.group(1) == "-" else 1.0
    parts = [float(p) for p in m.group(2).split(":")]
    if len(parts) == 1:
        seconds = parts[0]
    elif len(parts) == 2:  # mx.DateTime reads "01:30" as hours:minutes
        seconds = parts[0] * 3600 + parts[1] * 60
    elif len(parts) == 3:
        seconds = parts[0] * 3600 + parts[1] * 60 + parts[2]
    else:
        seconds = parts[0] * 86400 + parts[1] * 3600 + parts[2] * 60 + parts[3]
    return sign * seconds


def resource_name(haizea_type: str) -> str:
    """Galerna's name for a Haizea resource type: CPU→cpu, Memory/Mem→memory, ``Net (in)``→net-in."""
    low = haizea_type.strip().lower()
    if low == "cpu":
        return "cpu"
    if low in ("memory", "mem"):
        return "memory"
    return re.sub(r"[^a-z0-9]+", "-", low).strip("-")


def resource_amount(name: str, amount: float, cpu_scale: float = 100.0) -> float:
    """Convert a Haizea amount: CPU is in percent of a core (100 = 1.0), the rest as is."""
    return amount / cpu_scale if name == "cpu" else amount


def frozen(resources: Mapping[str, float]) -> Mapping[str, float]:
    """A read-only resource mapping, safe to share among the VMs of one lease."""
    return MappingProxyType(dict(resources))


def gang(n: int, resources: Mapping[str, float]) -> tuple[Mapping[str, float], ...]:
    """``n`` identical VMs."""
    one = frozen(resources)
    return tuple(one for _ in range(n))


def image_from(name: str | None, size: float) -> DiskImage | None:
    """A disk image, or None for Haizea's "no image" spellings (NONE, NONE.img, NOIMAGE)."""
    if name is None:
        return None
    name = name.strip().strip("'\"")
    if not name or name.upper() in ("NONE", "NONE.IMG", "NOIMAGE", "NULL"):
        return None
    return DiskImage(name, float(size))


def id_key(lease_id: str) -> tuple:
    """Sort key putting numeric ids in numeric order ("2" before "10"), others after by text."""
    return (0, int(lease_id), "") if lease_id.isdigit() else (1, 0, lease_id)
