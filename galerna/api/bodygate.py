"""Who asks is known before a body is read, and no body is read past ``[api] max_body_bytes``.

A plain ASGI middleware, outermost: a request that carries a body (a ``Content-Length`` other than 0, or a
``Transfer-Encoding``) needs a valid token *before* a byte of it is read (80 MB of JSON from an unauthenticated
client used to cost seconds of CPU and hundreds of MB); then a too-large ``Content-Length`` is answered 413 at
once, and a body without one (chunked) or one that is longer than it said is counted as it arrives and answered
413 as soon as it passes the cap, having held at most the cap in memory. A body within the cap is handed on as
one message. Requests without a body pass untouched: the routers' own dependencies authenticate them.
"""
from __future__ import annotations

import asyncio
import base64
import json

from galerna.api.auth import TokenCache

DRAIN_BYTES = 1024 * 1024  # read (and drop) at most this much more of a refused body, so the client can read the 413
DRAIN_SECONDS = 1.0


def has_body(headers: dict[bytes, bytes]) -> bool:
    return b"transfer-encoding" in headers or headers.get(b"content-length", b"0").strip() not in (b"0", b"")


def bearer_token(headers: dict[bytes, bytes]) -> str | None:
    scheme, _, value = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def xmlrpc_token(headers: dict[bytes, bytes], query: bytes) -> str | None:
    """XML-RPC clients may also give the token as ``?token=`` or as a basic-auth password (see api/xmlrpc.py)."""
    from urllib.parse import parse_qs

    tok = parse_qs(query.decode("latin-1")).get("token", [None])[0]
    if tok:
        return tok
    scheme, _, value = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
    if scheme.lower() == "basic":
        try:
            user, _, pw = base64.b64decode(value.strip()).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return pw or user or None
    return bearer_token(headers)


async def answer(send, status: int, detail: str, close: bool = False, **headers: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.replace("_", "-").lower().encode(), v.encode()) for k, v in headers.items()]
    if close:
        raw.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class BodyGate:
    def __init__(self, app, max_body_bytes: int, xmlrpc_path: str | None = None):
        self.app = app
        self.cap = max_body_bytes
        self.xmlrpc_path = xmlrpc_path

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        if not has_body(headers):
            return await self.app(scope, receive, send)
        if scope["path"] == self.xmlrpc_path:
            token = xmlrpc_token(headers, scope.get("query_string", b""))
        else:
            token = bearer_token(headers)
        if token is None:
            return await answer(send, 401, "missing bearer token", close=True, www_authenticate="Bearer")
        tokens: TokenCache = scope["app"].state.galerna.tokens
        hit = tokens.cached(token)
        who = hit[1] if hit is not None else await asyncio.to_thread(tokens.find, token)
        if who is None:
            return await answer(send, 401, "unknown or revoked token", close=True, www_authenticate="Bearer")
        too_big = f"the request body is larger than {self.cap} bytes ([api] max_body_bytes)"
        try:
            announced = int(headers.get(b"content-length", b"0"))
        except ValueError:
            announced = 0  # the HTTP parser refuses a malformed length before we get here
        if announced > self.cap:
            return await answer(send, 413, too_big, close=True)
        chunks, size = [], 0
        while True:
            msg = await receive()
            if msg["type"] != "http.request":  # the client went away: let the app see it as it would
                return await self.app(scope, _replay([msg], receive), send)
            chunk = msg.get("body", b"")
            size += len(chunk)
            if size > self.cap:
                if msg.get("more_body", False):
                    await _drain(receive)
                return await answer(send, 413, too_big, close=True)
            chunks.append(chunk)
            if not msg.get("more_body", False):
                break
        body = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        return await self.app(scope, _replay([body], receive), send)


def _replay(messages: list[dict], receive):
    pending = iter(messages)

    async def receive_again():
        return next(pending, None) or await receive()

    return receive_again


async def _drain(receive) -> None:
    """Read and drop a little more of a refused body (bounded in bytes and time), so that a client still sending
    it is not reset before it reads the 413."""
    dropped = 0
    try:
        async with asyncio.timeout(DRAIN_SECONDS):
            while dropped < DRAIN_BYTES:
                msg = await receive()
                if msg["type"] != "http.request" or not msg.get("more_body", False):
                    return
                dropped += len(msg.get("body", b""))
    except TimeoutError:
        pass

