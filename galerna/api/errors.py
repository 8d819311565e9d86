"""How the API refuses: the documented refusal responses, 422s that name the field, the service's ``Refused``."""
from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from galerna.api.schemas import Refusal
from galerna.daemon.service import Refused
from galerna.model.site import UnknownResource

REFUSALS = {409: {"model": Refusal, "description": "refused, with the reason"},
            404: {"model": Refusal, "description": "no such lease (or not yours)"},
            401: {"model": Refusal, "description": "missing or unknown token"},
            403: {"model": Refusal, "description": "not allowed for this token"},
            503: {"model": Refusal, "description": "the daemon is stopping or busy"}}


def invalid(loc: tuple, msg: str, value: Any = None) -> RequestValidationError:
    """A 422 for the request body's field at ``loc``, shaped like FastAPI's own validation errors."""
    return RequestValidationError([{"loc": ("body",) + loc, "msg": msg, "type": "value_error", "input": value}])


def unknown_resource(e: UnknownResource) -> RequestValidationError:
    return invalid(("nodes", e.node, e.resource), str(e))


async def refused(request: Request, e: Refused) -> JSONResponse:
    """The exception handler of the service's refusals: its status, the reason and (if any) the lease."""
    return JSONResponse({"detail": e.reason, "lease": e.lease}, status_code=e.status)
