"""The one set of bounds a lease request must keep, whatever door it came in by.

REST bodies, Haizea's XML-RPC ``create_lease``, the CLI client and OpenNebula's HAIZEA/GALERNA templates all ask
:func:`check_lease` (the REST schema also states the same limits in its OpenAPI document), so the same value gets
the same refusal, naming the same field. The limits keep every value representable downstream: an instant between
2000 and 2200 and a run of at most ten years always make a ``datetime``, a JSON number and a libvirt call, and a
node cap keeps one request from filling the scheduler's memory. A leaf, like the rest of ``model``.
"""
from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

EARLIEST = 946684800.0  # 2000-01-01T00:00:00Z
LATEST = 7258118400.0  # 2200-01-01T00:00:00Z
MAX_DURATION = 10 * 365 * 86400.0  # ten years of run time
MAX_NODES = 1024
MAX_CPU = 1e6  # cores per VM
MAX_AMOUNT = 1e9  # MB of memory, or any other resource, per VM
MAX_NAME = 256
MAX_TENANT = 128
MAX_IMAGE_ID = 512


class OutOfBounds(ValueError):
    """A request's value outside the bounds: ``field`` is its dotted path (``duration``, ``nodes.3.cpu``)."""

    def __init__(self, field: str, msg: str):
        super().__init__(f"{field}: {msg}")
        self.field, self.msg = field, msg

    @property
    def loc(self) -> tuple[str | int, ...]:
        return tuple(int(p) if p.isdigit() else p for p in self.field.split("."))


@dataclass(frozen=True)
class LeaseBounds:
    """The limits in force (a daemon may lower the defaults: ``[daemon] max_lease_duration``, ``max_lease_nodes``)."""

    max_duration: float = MAX_DURATION
    max_nodes: int = MAX_NODES
    earliest: float = EARLIEST
    latest: float = LATEST


DEFAULT = LeaseBounds()


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be a name (a lone surrogate cannot be stored or sent as UTF-8; control characters
    corrupt logs and terminals), or None."""
    for ch in value:
        if 0xD800 <= ord(ch) <= 0xDFFF:
            return "must not contain lone surrogates (not valid Unicode text)"
        if unicodedata.category(ch) == "Cc":
            return "must not contain control characters"
    return None


def check_text(field: str, value: Any, max_len: int) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise OutOfBounds(field, "must be a string")
    if len(value) > max_len:
        raise OutOfBounds(field, f"must be at most {max_len} characters")
    why = text_problem(value)
    if why:
        raise OutOfBounds(field, why)


def _number(field: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise OutOfBounds(field, "must be a number")
    try:
        x = float(value)
    except OverflowError:
        raise OutOfBounds(field, "must be a finite number") from None
    if not math.isfinite(x):
        raise OutOfBounds(field, "must be a finite number")
    return x


def check_duration(value: Any, b: LeaseBounds = DEFAULT, field: str = "duration") -> float:
    x = _number(field, value)
    if x <= 0:
        raise OutOfBounds(field, "must be greater than 0 seconds")
    if x > b.max_duration:
        raise OutOfBounds(field, f"must be at most {b.max_duration:g} seconds")
    return x


def check_instant(field: str, value: Any, b: LeaseBounds = DEFAULT) -> float | None:
    if value is None:
        return None
    x = _number(field, value)
    if not (b.earliest <= x <= b.latest):
        raise OutOfBounds(field, "must be between 2000-01-01 and 2200-01-01")
    return x


def check_count(value: Any, b: LeaseBounds = DEFAULT, field: str = "n_nodes") -> int:
    """A node count, checked before anything is built for each node."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise OutOfBounds(field, "must be an integer")
    if not (1 <= value <= b.max_nodes):
        raise OutOfBounds(field, f"must be between 1 and {b.max_nodes}")
    return value


def check_nodes(nodes: Any, b: LeaseBounds = DEFAULT, field: str = "nodes") -> None:
    if not isinstance(nodes, (list, tuple)):
        raise OutOfBounds(field, "must be a list of resource maps")
    check_count(len(nodes), b, field)
    for i, node in enumerate(nodes):
        if not isinstance(node, Mapping):
            raise OutOfBounds(f"{field}.{i}", "must be a map of resource amounts")
        for k, v in node.items():
            where = f"{field}.{i}.{k}"
            x = _number(where, v)
            top = MAX_CPU if k == "cpu" else MAX_AMOUNT
            if k in ("cpu", "memory") and x <= 0:
                raise OutOfBounds(where, "must be greater than 0")
            if not (0 <= x <= top):
                raise OutOfBounds(where, f"must be between 0 and {top:g}")


def check_lease(b: LeaseBounds = DEFAULT, *, duration: Any, nodes: Iterable[Mapping[str, Any]] | Any,
                start: Any = None, deadline: Any = None, name: Any = None, tenant: Any = None,
                image_id: Any = None, image_size: Any = None, **_: Any) -> None:
    """Every bound of one lease request (times as Unix seconds); :class:`OutOfBounds` for the first value outside
    them, in the order of the REST body's fields."""
    check_duration(duration, b)
    check_instant("start", start, b)
    check_instant("deadline", deadline, b)
    check_nodes(nodes, b)
    check_text("name", name, MAX_NAME)
    check_text("tenant", tenant, MAX_TENANT)
    check_text("image.id", image_id, MAX_IMAGE_ID)
    if image_size is not None:
        x = _number("image.size_mb", image_size)
        if not (0 <= x <= MAX_AMOUNT):
            raise OutOfBounds("image.size_mb", f"must be between 0 and {MAX_AMOUNT:g}")
