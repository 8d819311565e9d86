"""The response of one event stream (Server-Sent Events), written against ASGI directly so that it can watch
for the client leaving (its place under the caps is given back at once, not at the next keep-alive), bound the
time one write may stall (a reader that stops reading is cut off after ``[api] stream_send_timeout``), and end
a stream closed by the server with a last ``stream.closed`` event that says why."""
from __future__ import annotations

import asyncio
import json
import logging
from typing import Callable

from starlette.responses import Response

from galerna.api.streams import GONE, Stream, StreamClosed

log = logging.getLogger("galerna.api")
KEEP_ALIVE_SECONDS = 15.0


def closing_frame(reason: str) -> bytes:
    return f"event: stream.closed\ndata: {json.dumps({'event': 'stream.closed', 'reason': reason})}\n\n".encode()


class EventStreamResponse(Response):
    media_type = "text/event-stream"

    def __init__(self, stream: Stream, release: Callable[[Stream], None], send_timeout: float, once: bool = False):
        self.stream, self.release, self.send_timeout, self.once = stream, release, send_timeout, once
        self.status_code = 200
        self.background = None
        self.init_headers({"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def __call__(self, scope, receive, send) -> None:
        watcher = asyncio.create_task(self._watch(receive))

        async def write(body: bytes, more: bool = True) -> None:
            async with asyncio.timeout(self.send_timeout):
                await send({"type": "http.response.body", "body": body, "more_body": more})

        try:
            async with asyncio.timeout(self.send_timeout):
                await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            await write(b": galerna events\n\n")
            while True:
                try:
                    batch = await self.stream.next(KEEP_ALIVE_SECONDS, most=1 if self.once else 100)
                except StreamClosed as e:
                    if e.reason == GONE:
                        return
                    log.info("event stream closed", extra={"reason": e.reason, "tenant": self.stream.who.tenant})
                    await write(closing_frame(e.reason), more=False)
                    return
                await write(b"".join(batch) if batch else b": keep-alive\n\n")
                if self.once and batch:
                    await write(b"", more=False)
                    return
        except TimeoutError:  # the reader stopped reading: the server closes the connection
            log.info("event stream dropped: its reader stalled", extra={"tenant": self.stream.who.tenant})
        except OSError:  # the client went away while we wrote
            pass
        finally:
            watcher.cancel()
            self.stream.close(GONE)
            self.release(self.stream)

    async def _watch(self, receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self.stream.close(GONE)
