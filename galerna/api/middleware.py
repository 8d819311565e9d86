"""Refuse NUL characters at the door, for every endpoint alike."""
from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse


def _nul_refusal(loc: list[str]) -> JSONResponse:
    return JSONResponse(status_code=422, content={"detail": [
        {"loc": loc, "msg": "must not contain NUL characters", "type": "value_error"}]})


class RefuseNul:
    """No text in Galerna may hold a NUL character (PostgreSQL cannot store one): refuse it at the door,
    naming the field, for every endpoint alike. A plain ASGI middleware (Starlette's ``BaseHTTPMiddleware``
    costs a task group and a response stream per request); a body it has read is handed on unchanged."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope)
        for key, value in request.query_params.multi_items():
            if "\x00" in key or "\x00" in value:
                return await _nul_refusal(["query", key.replace("\x00", "\\0")])(scope, receive, send)
        if "\x00" in request.url.path:
            return await _nul_refusal(["path"])(scope, receive, send)
        if scope["method"] in ("POST", "PUT", "PATCH"):
            messages, body = [], b""
            while True:
                msg = await receive()
                messages.append(msg)
                if msg["type"] != "http.request":
                    break
                body += msg.get("body", b"")
                if not msg.get("more_body", False):
                    break
            if b"\x00" in body or b"\\u0000" in body:
                return await _nul_refusal(["body"])(scope, receive, send)
            replay = iter(messages)

            async def receive_again():
                return next(replay, None) or await receive()

            return await self.app(scope, receive_again, send)
        return await self.app(scope, receive, send)
