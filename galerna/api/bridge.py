"""The decision bridge: the scheduler thread's answers handed to the event loop, one wake-up per batch."""
from __future__ import annotations

import asyncio
import threading


class DecisionBridge:
    """Hands the scheduler thread's decisions to the event loop with one wake-up per
    batch of them, not one per request (``asyncio.wrap_future`` pays a self-pipe
    write and a callback chain for every future, ~10 % of the server's CPU under a
    burst of submissions)."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self._lock = threading.Lock()
        self._done: list = []
        self._woken = False

    def watch(self, fut) -> asyncio.Future:  # noqa: ANN001 - a concurrent.futures.Future
        waiter = self.loop.create_future()
        fut.add_done_callback(lambda f: self._arrived(waiter, f))
        return waiter

    def _arrived(self, waiter: asyncio.Future, fut) -> None:  # noqa: ANN001
        with self._lock:
            self._done.append((waiter, fut))
            if self._woken:
                return
            self._woken = True
        self.loop.call_soon_threadsafe(self._hand_over)

    def _hand_over(self) -> None:
        with self._lock:
            done, self._done, self._woken = self._done, [], False
        for waiter, fut in done:
            if waiter.done():  # its request timed out
                continue
            e = fut.exception()
            if e is None:
                waiter.set_result(fut.result())
            else:
                waiter.set_exception(e)
