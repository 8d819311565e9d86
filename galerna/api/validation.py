"""Bodies that failed validation: what a 422 echoes is always encodable, and an unparsable body is never an
undocumented 400. (``api/echo.py`` is the 422 handler; it echoes through ``plain``.)

FastAPI's own handler echoes each bad value as it came. A ``NaN``, an ``Infinity`` (or ``1e400``, which JSON parsing
makes one) or a lone surrogate cannot be written back as strict JSON in UTF-8, so the refusal itself failed with a
500. Here such values are echoed as text: ``"NaN"``, ``"Infinity"``, ``"a\\ud800b"``.
"""
from __future__ import annotations

import math
from typing import Any

from fastapi import Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

# what FastAPI raises (as a 400, which no operation documents) when a JSON body is not even text: invalid UTF-8
UNPARSED = "There was an error parsing the body"


def plain(value: Any) -> Any:
    """``value`` with every non-finite float and every string UTF-8 cannot carry made into plain text."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
        return value
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


async def body_unparsed(request: Request, exc: HTTPException):
    """A body FastAPI could not parse at all (not UTF-8) is a 422 at ``body``, like any other body that is not JSON,
    as the OpenAPI document says; every other HTTP error is FastAPI's own."""
    if exc.status_code == 400 and exc.detail == UNPARSED:
        return JSONResponse(status_code=422, content={"detail": [
            {"loc": ["body"], "msg": "the body is not JSON text (UTF-8)", "type": "json_invalid"}]})
    return await http_exception_handler(request, exc)
