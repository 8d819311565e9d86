"""The open event streams: admitted under the caps of ``[api]`` (per token and in total), fed from one broker
subscription, each with a bounded backlog (a reader that falls behind is dropped, not buffered for), and closed
when their token is revoked (a sweep reads the tokens of the open streams afresh every ``SWEEP_SECONDS``)."""
from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections import Counter, deque

from galerna.api.auth import CACHE_SECONDS, Principal, TokenCache
from galerna.config.api import ApiConfig
from galerna.daemon.notify import Broker

log = logging.getLogger("galerna.api")
SWEEP_SECONDS = CACHE_SECONDS / 2  # a revoked token's streams close within this (plus one database read)
FAN_OUT = 16  # messages handed to the streams per turn of the event loop
GONE = "the client went away"  # closed by the client: no final event


def frame(msg: dict) -> bytes:
    """A message as Server-Sent Events put it on the wire (encoded once, for every stream that gets it)."""
    return f"id: {msg['id']}\nevent: {msg['event']}\ndata: {json.dumps(msg)}\n\n".encode()


class StreamRefused(Exception):
    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


class StreamClosed(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Stream:
    """One open stream's backlog. Lives on the event loop: ``offer`` and ``close`` are called there only."""

    def __init__(self, token: str, who: Principal, backlog: int):
        self.token, self.who, self.backlog = token, who, backlog
        self.items: deque[bytes] = deque()  # encoded frames
        self.ready = asyncio.Event()
        self.reason: str | None = None  # why it was closed; None while open

    def wants(self, msg: dict) -> bool:
        """Tenants get only their own leases' events (host events go to all)."""
        return "lease" not in msg or self.who.admin or msg.get("tenant") == self.who.tenant

    def offer(self, data: bytes) -> None:
        if self.reason is not None:
            return
        if len(self.items) >= self.backlog:
            self.close(f"the reader fell {self.backlog} events behind ([api] stream_backlog); reconnect and "
                       "read the current state")
            return
        self.items.append(data)
        self.ready.set()

    def close(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
            self.items.clear()
            self.ready.set()

    async def next(self, timeout: float, most: int = 100) -> list[bytes]:
        """Up to ``most`` waiting frames ([] after ``timeout`` seconds with none); ``StreamClosed`` once closed."""
        if not self.items and self.reason is None:
            self.ready.clear()
            try:
                async with asyncio.timeout(timeout):
                    await self.ready.wait()
            except TimeoutError:
                return []
        if self.reason is not None:
            raise StreamClosed(self.reason)
        return [self.items.popleft() for _ in range(min(most, len(self.items)))]


class StreamRegistry:
    def __init__(self, limits: ApiConfig, tokens: TokenCache, broker: Broker, loop: asyncio.AbstractEventLoop):
        self.limits, self.tokens, self.loop = limits, tokens, loop
        self._streams: set[Stream] = set()
        self._per_token: Counter[str] = Counter()
        self._inbox: list[dict] = []  # published on the scheduler thread, fanned out on the loop
        self._inbox_lock = threading.Lock()
        self._sweeper: asyncio.Task | None = None
        broker.subscribe(self._deliver)

    def open_count(self) -> int:
        return len(self._streams)

    def open(self, token: str, who: Principal) -> Stream:
        """A new stream for ``token``, or ``StreamRefused`` (429 past the token's cap, 503 past the total)."""
        if self._per_token[token] >= self.limits.max_streams_per_token:
            raise StreamRefused(429, f"this token has {self._per_token[token]} event streams open, the most allowed "
                                     "([api] max_streams_per_token); close one first")
        if len(self._streams) >= self.limits.max_streams:
            raise StreamRefused(503, f"the daemon has {len(self._streams)} event streams open, the most it serves "
                                     "([api] max_streams); try again later")
        stream = Stream(token, who, self.limits.stream_backlog)
        self._streams.add(stream)
        self._per_token[token] += 1
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = self.loop.create_task(self._sweep())
        return stream

    def release(self, stream: Stream) -> None:
        if stream in self._streams:
            self._streams.discard(stream)
            self._per_token[stream.token] -= 1
            if self._per_token[stream.token] <= 0:
                del self._per_token[stream.token]

    def close_all(self, reason: str) -> None:
        """End every open stream (each with its last event giving ``reason``): an orderly stop."""
        for stream in list(self._streams):
            stream.close(reason)

    def _deliver(self, msg: dict) -> None:  # on the scheduler thread: one wake-up of the loop per batch
        if not self._streams:
            return
        with self._inbox_lock:
            first = not self._inbox
            self._inbox.append(msg)
        if first:
            self.loop.call_soon_threadsafe(self._fan_out)

    def _fan_out(self) -> None:
        """Hand on up to ``FAN_OUT`` messages, then let the streams write before the next ones: a burst longer
        than a backlog does not drop readers that keep up, only those whose writes stall."""
        with self._inbox_lock:
            batch, self._inbox = self._inbox[:FAN_OUT], self._inbox[FAN_OUT:]
            more = bool(self._inbox)
        for msg in batch:
            data = None
            for stream in list(self._streams):
                if stream.wants(msg):
                    data = data or frame(msg)
                    stream.offer(data)
        if more:
            self.loop.call_soon(self._fan_out)

    async def _sweep(self) -> None:
        """Close the streams of tokens revoked (or deleted) since they opened, while any stream is open."""
        while self._streams:
            await asyncio.sleep(SWEEP_SECONDS)
            tokens = set(self._per_token)
            try:
                alive = await asyncio.to_thread(lambda: {t for t in tokens if self.tokens.fresh(t) is not None})
            except Exception as e:  # noqa: BLE001 - the database may be away for a moment: keep them, try again
                log.warning("event streams: could not check their tokens (%s)", type(e).__name__)
                continue
            for stream in list(self._streams):
                if stream.token in tokens and stream.token not in alive:
                    stream.close("the token was revoked")
