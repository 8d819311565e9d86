"""Any exception a handler did not expect becomes a 500 with an incident id and a plain sentence: no SQL text, no
class names, no traceback in the answer, and one log line (:mod:`galerna.daemon.incident`), not uvicorn's traceback
per request. A plain ASGI middleware, inside Starlette's error middleware, so the exception never reaches it."""
from __future__ import annotations

import logging

from fastapi.responses import JSONResponse

from galerna.daemon import incident

log = logging.getLogger("galerna.api")


class InternalErrors:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def watch(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as e:  # noqa: BLE001 - the point: nothing unexpected reaches the client as text
            why = incident.report(log, f"{scope.get('method')} {scope.get('path')} failed", e)
            if started:  # the answer is under way (a stream): it can only be cut short
                return
            await JSONResponse({"detail": incident.sentence(why), "incident": why}, status_code=500)(scope, receive, send)
