"""422s that echo little: each error keeps its ``loc``, ``msg`` and ``type`` (the field is always named) but the
``input`` it echoes is cut to a few dozen characters, so a 1 MiB body is not sent back, and is always encodable
(a lone surrogate or a NaN in the input must not turn the 422 into a 500)."""
from __future__ import annotations

import json
import math
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from galerna.api.validation import plain

TEXT = 64  # characters of a string echoed
ITEMS = 4  # items of a list or mapping echoed
ERRORS = 20  # errors listed in one answer


def cut(text: str, limit: int = TEXT) -> str:
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit else text[:limit] + "…"


def bounded(value: Any, depth: int = 0) -> Any:
    """``value`` as a small JSON value: scalars as they are (or as short text), containers as their first items."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) < 2 ** 53 else cut(str(value))
    if isinstance(value, float):
        return value if math.isfinite(value) else plain(value)
    if isinstance(value, str):
        return cut(value)
    if isinstance(value, (list, tuple, dict)):
        if depth >= 2:
            return "…"
        if isinstance(value, dict):
            small: Any = {cut(str(k)): bounded(v, depth + 1) for k, v in list(value.items())[:ITEMS]}
        else:
            small = [bounded(v, depth + 1) for v in value[:ITEMS]]
        if len(value) <= ITEMS and len(json.dumps(small)) <= 2 * TEXT:
            return small
        return json.dumps(small)[:TEXT] + f"… ({len(value)} items)"
    return cut(str(value))


def shorten(error: dict) -> dict:
    out = {"loc": error.get("loc", ()), "msg": cut(str(error.get("msg", "")), 4 * TEXT), "type": error.get("type", "")}
    if "input" in error:
        out["input"] = bounded(error["input"])
    if error.get("ctx"):
        out["ctx"] = {k: bounded(v if isinstance(v, (int, float, str, bool, type(None))) else str(v))
                      for k, v in list(error["ctx"].items())[:ITEMS]}
    return out


async def validation_refused(request: Request, e: RequestValidationError) -> JSONResponse:
    """The exception handler of 422s: FastAPI's shape, with every echo bounded."""
    errors = [shorten(err) for err in e.errors()[:ERRORS]]
    return JSONResponse(status_code=422, content={"detail": jsonable_encoder(errors)})
