"""Haizea option values: booleans, numbers, times and choices, each failing with a message that names the value."""
from __future__ import annotations

from typing import Any

from galerna.model.units import parse_duration


class BadValue(ValueError):
    pass


def as_bool(v: str) -> bool:
    low = v.strip().lower()
    if low in ("true", "yes", "on", "1"):
        return True
    if low in ("false", "no", "off", "0"):
        return False
    raise BadValue(f"expected True or False, got {v!r}")


def as_number(v: str) -> float:
    try:
        return float(v)
    except ValueError:
        raise BadValue(f"expected a number, got {v!r}") from None


def as_seconds(v: str) -> float:
    try:
        return parse_duration(v)
    except ValueError as e:
        raise BadValue(str(e)) from None


def as_choice(v: str, mapping: dict[str, Any]) -> Any:
    low = v.strip().lower()
    if low not in mapping:
        raise BadValue(f"{v!r} is not one of {', '.join(mapping)}")
    return mapping[low]
