"""Helpers shared by the readers: data lines, resource mappings, gangs of VMs, images, lease ids.

Haizea times and resource names live in :mod:`galerna.model.units`, which the
configuration reads too.
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Iterable, Iterator, Mapping

from galerna.model import DiskImage
from galerna.model.units import parse_duration, resource_amount, resource_name

# The units were here before model/units.py; tests and older callers still import them from here.
__all__ = ["data_lines", "frozen", "gang", "id_key", "image_from", "parse_duration", "resource_amount", "resource_name"]


def data_lines(lines: Iterable[str], comment: str = "#") -> Iterator[tuple[int, str]]:
    """(line number from 1, text) of each line holding data: the ``comment`` and what follows cut, blank lines skipped."""
    for lineno, raw in enumerate(lines, start=1):
        text = raw.split(comment, 1)[0].strip()
        if text:
            yield lineno, text


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
