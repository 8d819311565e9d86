"""Haizea's units, read the same way by the trace readers, the configuration and the clients.

A leaf: it imports nothing from Galerna, so ``config`` and ``readers`` can
both use it without importing each other. A Haizea CPU of 100 is 1.0 core
everywhere, ``Net (in)`` is ``net-in`` everywhere, and ``01:30`` is an hour
and a half everywhere.
"""
from __future__ import annotations

import re

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
