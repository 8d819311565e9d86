"""How the API refuses: the documented refusal responses, 422s that name the field, the service's ``Refused``."""
from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from galerna.api.schemas import Refusal
from galerna.daemon.errors import ErrorKind, Refused
from galerna.model.site import UnknownResource

REFUSALS = {409: {"model": Refusal, "description": "refused, with the reason"},
            404: {"model": Refusal, "description": "no such lease (or not yours)"},
            401: {"model": Refusal, "description": "missing or unknown token"},
            403: {"model": Refusal, "description": "not allowed for this token"},
            503: {"model": Refusal, "description": "the daemon is stopping or busy"}}
# An operation that takes a body may also be answered 413 by api/bodygate.py, before the body is read
WITH_BODY = {**REFUSALS, 413: {"model": Refusal, "description": "the request body is larger than [api] max_body_bytes"}}


def invalid(loc: tuple, msg: str, value: Any = None) -> RequestValidationError:
    """A 422 for the request body's field at ``loc``, shaped like FastAPI's own validation errors."""
    return RequestValidationError([{"loc": ("body",) + loc, "msg": msg, "type": "value_error", "input": value}])


def unknown_resource(e: UnknownResource) -> RequestValidationError:
    return invalid(("nodes", e.node, e.resource), str(e))


# The HTTP status of each kind of refusal: the daemon says why, the API says it in HTTP.
STATUS = {ErrorKind.CONFLICT: 409, ErrorKind.NOT_FOUND: 404, ErrorKind.INVALID: 422, ErrorKind.UNAVAILABLE: 503}


async def refused(request: Request, e: Refused) -> JSONResponse:
    """The exception handler of the service's refusals: its status, the reason and (if any) the lease. An invalid
    value is a 422 shaped as every other 422 (a list naming the field), as the OpenAPI document says."""
    if e.kind is ErrorKind.INVALID:
        loc = ("body",) + (tuple(int(p) if p.isdigit() else p for p in e.field.split(".")) if e.field else ())
        msg = e.reason.removeprefix(f"{e.field}: ") if e.field else e.reason
        return JSONResponse({"detail": [{"loc": list(loc), "msg": msg, "type": "value_error"}]}, status_code=422)
    return JSONResponse({"detail": e.reason, "lease": e.lease}, status_code=STATUS[e.kind])
