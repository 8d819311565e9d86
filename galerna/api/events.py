"""``/v1/events``: the lease and host notifications as Server-Sent Events, under the stream caps of ``[api]``."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.security import HTTPAuthorizationCredentials

from galerna.api.auth import Who, bearer
from galerna.api.context import Ctx
from galerna.api.errors import REFUSALS
from galerna.api.schemas import Refusal
from galerna.api.sse import EventStreamResponse
from galerna.api.streams import StreamRefused, StreamRegistry

router = APIRouter()


@router.get("/v1/events", responses={200: {"content": {"text/event-stream": {}},
                                           "description": "Server-Sent Events"}, **REFUSALS,
                                     429: {"model": Refusal, "description": "this token has the most streams open"}},
            tags=["events"])
async def events(request: Request, p: Who, ctx: Ctx,
                 cred: Annotated[HTTPAuthorizationCredentials, Depends(bearer)],
                 once: Annotated[bool, Query(description="close after the first event (for scripts)")] = False
                 ) -> EventStreamResponse:
    """Server-Sent Events: lease.started / ending_soon / ended / suspended / resumed / failed / cancelled /
    rejected / preempted and host.up / host.down. Tenants get only their own leases' events. A stream the
    server ends (its token revoked, or its reader too far behind) ends with a ``stream.closed`` event giving
    the reason. Open streams are capped per token (429 past it) and in all (503)."""
    streams: StreamRegistry = request.app.state.streams
    try:
        stream = streams.open(cred.credentials, p)
    except StreamRefused as e:
        raise HTTPException(e.status, e.detail) from None
    return EventStreamResponse(stream, streams.release, ctx.settings.config.api.stream_send_timeout, once=once)
