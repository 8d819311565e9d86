"""``GET /v1/whoami``: what the presented token is (its name, tenant, admin or not), so a client such as the
console can show what it may do without trying."""

from typing import Annotated, Any, Callable

from fastapi import APIRouter, Depends
from pydantic import BaseModel


class WhoAmI(BaseModel):
    name: str
    tenant: str | None
    admin: bool


def whoami_router(principal: Callable) -> APIRouter:
    router = APIRouter(tags=["auth"])

    @router.get("/v1/whoami", response_model=WhoAmI)
    def whoami(p: Annotated[Any, Depends(principal)]) -> Any:
        return {"name": p.name, "tenant": p.tenant, "admin": p.admin}

    return router
