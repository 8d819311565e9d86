"""What every handler works with, set up by the app's lifespan: the store, the service, the decision bridge, the
token cache. Routers take it as a dependency (``ctx: Ctx``) instead of closing over the app factory's locals."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from galerna.api.auth import TokenCache
from galerna.api.bridge import DecisionBridge
from galerna.daemon.errors import ErrorKind, Refused
from galerna.daemon.service import Service
from galerna.daemon.settings import Settings
from galerna.store.db import Store


@dataclass
class ApiContext:
    settings: Settings
    store: Store
    service: Service
    bridge: DecisionBridge
    tokens: TokenCache

    async def decision(self, fut) -> Any:  # noqa: ANN001 - a concurrent.futures.Future from the service
        """The scheduler's answer to an operation, or 503 after ``daemon.decision_timeout`` seconds."""
        try:
            async with asyncio.timeout(self.settings.daemon.decision_timeout):
                return await self.bridge.watch(fut)
        except TimeoutError:
            raise Refused("the scheduler did not answer in time; the request may still be carried out (a retry with the "
                          "same Idempotency-Key gets its answer, never a second lease)", ErrorKind.UNAVAILABLE) from None


async def context(request: Request) -> ApiContext:
    return request.app.state.galerna


Ctx = Annotated[ApiContext, Depends(context)]
