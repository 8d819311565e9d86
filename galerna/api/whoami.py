"""``GET /v1/whoami``: what the presented token is (its name, tenant, admin or not), so a client such as the
console can show what it may do without trying."""

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from galerna.api.auth import Who
from galerna.api.errors import REFUSALS


class WhoAmI(BaseModel):
    name: str
    tenant: str | None
    admin: bool


router = APIRouter(tags=["auth"])


@router.get("/v1/whoami", response_model=WhoAmI, responses=REFUSALS)
def whoami(p: Who) -> Any:
    return {"name": p.name, "tenant": p.tenant, "admin": p.admin}
