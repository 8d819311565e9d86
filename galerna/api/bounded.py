"""The REST schema's field types, drawn from the one set of lease bounds (:mod:`galerna.model.bounds`).

Strict where a number or a flag is meant (JSON ``true`` is not a duration of one second, ``1`` is not ``true``),
finite only (``NaN``, ``Infinity`` and ``1e400`` are refused, not stored), and text that UTF-8 can carry.
"""
from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from galerna.model import bounds


def _text(v: str) -> str:
    why = bounds.text_problem(v)
    if why:
        raise ValueError(why)
    return v


def Number(**limits) -> object:  # noqa: N802 - a type factory, used where a type goes
    """A finite JSON number (an integer is one too, a boolean is not) within ``limits`` (ge/gt/le)."""
    return Annotated[float, Field(strict=True, allow_inf_nan=False, **limits)]


def Text(max_length: int, min_length: int | None = None) -> object:  # noqa: N802
    """Text without lone surrogates or control characters."""
    return Annotated[str, StringConstraints(min_length=min_length, max_length=max_length), AfterValidator(_text)]


Seconds = Number(gt=0, le=bounds.MAX_DURATION)
Amount = Number(ge=0, le=bounds.MAX_AMOUNT)
# a VM's cpu and memory: 0 is refused by the bounds check (422 naming the field); the published OpenAPI document
# keeps its ``minimum: 0`` (tests/daemon/test_openapi_stable.py)
Cores = Number(ge=0, le=bounds.MAX_CPU)
Megabytes = Number(ge=0, le=bounds.MAX_AMOUNT)
PositiveCores = Number(gt=0, le=bounds.MAX_CPU)
PositiveMegabytes = Number(gt=0, le=bounds.MAX_AMOUNT)
NodeCount = Annotated[int, Field(strict=True, ge=1, le=bounds.MAX_NODES)]
Flag = Annotated[bool, Field(strict=True)]
Name = Text(bounds.MAX_NAME)
Tenant = Text(bounds.MAX_TENANT, min_length=1)
ImageId = Text(bounds.MAX_IMAGE_ID, min_length=1)
