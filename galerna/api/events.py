"""``/v1/events``: the lease and host notifications as Server-Sent Events."""
from __future__ import annotations

import asyncio
import json
from typing import Annotated, AsyncIterator

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from galerna.api.auth import Who
from galerna.api.context import Ctx
from galerna.api.errors import REFUSALS

router = APIRouter()
KEEP_ALIVE_SECONDS = 15.0
BACKLOG = 10000  # events a slow reader may fall behind by; later ones are dropped for it


@router.get("/v1/events", responses={200: {"content": {"text/event-stream": {}},
                                           "description": "Server-Sent Events"}, **REFUSALS}, tags=["events"])
async def events(p: Who, ctx: Ctx,
                 once: Annotated[bool, Query(description="close after the first event (for scripts)")] = False
                 ) -> StreamingResponse:
    """Server-Sent Events: lease.started / ending_soon / ended / suspended / resumed / failed / cancelled /
    rejected / preempted and host.up / host.down. Tenants get only their own leases' events."""
    broker = ctx.service.broker
    loop = asyncio.get_running_loop()
    q: asyncio.Queue = asyncio.Queue(maxsize=BACKLOG)

    def deliver(msg: dict) -> None:  # on the scheduler thread
        if "lease" in msg and not p.admin and msg.get("tenant") != p.tenant:
            return
        loop.call_soon_threadsafe(_put, msg)

    def _put(msg: dict) -> None:
        if not q.full():
            q.put_nowait(msg)

    sub = broker.subscribe(deliver)

    async def stream() -> AsyncIterator[bytes]:
        try:
            yield b": galerna events\n\n"
            while True:
                try:
                    msg = await asyncio.wait_for(q.get(), KEEP_ALIVE_SECONDS)
                except asyncio.TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                yield f"id: {msg['id']}\nevent: {msg['event']}\ndata: {json.dumps(msg)}\n\n".encode()
                if once:
                    return
        finally:
            broker.unsubscribe(sub)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
