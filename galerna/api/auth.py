"""Who is asking: bearer tokens, the token cache, and the tenant and admin dependencies of the routers.

Every call but ``GET /v1/health`` needs ``Authorization: Bearer <token>``. A tenant token acts for its tenant
only; an admin token sees all leases and manages hosts.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Annotated, Callable

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

CACHE_SECONDS = 2.0  # a revoked token stops working within this
CACHE_SIZE = 10000  # past this many tokens the cache starts afresh (a flood of bad tokens cannot grow it)


@dataclass(frozen=True)
class Principal:
    name: str
    tenant: str | None
    admin: bool


class TokenCache:
    """Tokens resolved to principals (or to None: unknown or revoked), each kept for ``CACHE_SECONDS`` so that a
    burst of requests reads the database once. ``find`` reads the store: the caller runs it in a thread."""

    def __init__(self, find_row: Callable[[str], object | None]):
        self._find_row = find_row  # Store.principal: the token's row, or None
        self._hits: dict[str, tuple[float, Principal | None]] = {}

    def cached(self, token: str) -> tuple[float, Principal | None] | None:
        """The cached answer (expiry, principal) while it is fresh, else None. Reads no database."""
        hit = self._hits.get(token)
        return hit if hit is not None and hit[0] >= time.monotonic() else None

    def find(self, token: str) -> Principal | None:
        hit = self.cached(token)
        if hit is None:
            row = self._find_row(token)
            p = None if row is None else Principal(row.name, row.tenant, row.admin)
            if len(self._hits) > CACHE_SIZE:
                self._hits.clear()
            self._hits[token] = hit = (time.monotonic() + CACHE_SECONDS, p)
        return hit[1]

    def fresh(self, token: str) -> Principal | None:
        """The token read from the database now (and cached): the event streams' revocation sweep."""
        self._hits.pop(token, None)
        return self.find(token)


bearer = HTTPBearer(auto_error=False)


async def principal(request: Request,
                    cred: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Principal:
    # async: a sync dependency would cost a thread-pool hand-off on every request; the database is read
    # (in a thread) only when the token is not in the cache.
    if cred is None or not cred.credentials:
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    tokens: TokenCache = request.app.state.galerna.tokens
    hit = tokens.cached(cred.credentials)
    p = hit[1] if hit is not None else await asyncio.to_thread(tokens.find, cred.credentials)
    if p is None:
        raise HTTPException(401, "unknown or revoked token", headers={"WWW-Authenticate": "Bearer"})
    return p


Who = Annotated[Principal, Depends(principal)]


async def admin(p: Who) -> Principal:
    if not p.admin:
        raise HTTPException(403, "admin token needed")
    return p


Admin = Annotated[Principal, Depends(admin)]
