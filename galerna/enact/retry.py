"""Timeouts, bounded retries and backoff for hypervisor operations."""
from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from typing import Callable, TypeVar

from galerna.enact.config import RetryConfig
from galerna.enact.driver import HypervisorError, OperationKind, OperationTimeout

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    initial: float = 1.0
    factor: float = 2.0
    maximum: float = 60.0
    jitter: float = 0.1

    @classmethod
    def from_config(cls, c: RetryConfig) -> "Backoff":
        return cls(c.backoff_initial, c.backoff_factor, c.backoff_max, c.jitter)

    def delay(self, failures: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after the ``failures``-th failure (1-based)."""
        base = min(self.maximum, self.initial * self.factor ** max(0, failures - 1))
        return base * (1 + self.jitter * (rng or random).random())


def call_with_timeout(fn: Callable[[], T], timeout: float | None, *, op: OperationKind | str = "call",
                      vm: str | None = None, host: str | None = None) -> T:
    """Run ``fn`` and give up after ``timeout`` s with :class:`OperationTimeout`.

    libvirt calls cannot be cancelled: a call that hangs is left to finish in
    its own daemon thread, and whatever it does later is caught by the
    idempotent drivers and by reconciliation.
    """
    if timeout is None or timeout <= 0:
        return fn()
    box: dict[str, object] = {}
    done = threading.Event()

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            box["error"] = e
        finally:
            done.set()

    threading.Thread(target=run, name=f"op-{op}-{vm or host or ''}", daemon=True).start()
    if not done.wait(timeout):
        raise OperationTimeout(op, timeout, vm=vm, host=host)
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def is_transient(exc: BaseException) -> bool:
    """Whether another try may succeed: transient hypervisor errors and timeouts, nothing else."""
    return isinstance(exc, HypervisorError) and exc.transient


def retry(fn: Callable[[], T], *, attempts: int, backoff: Backoff, timeout: float | None = None,
          op: OperationKind | str = "call", vm: str | None = None, host: str | None = None,
          sleep: Callable[[float], None] = time.sleep,
          before_try: Callable[[], None] | None = None, after_try: Callable[[], None] | None = None) -> T:
    """Synchronous bounded retries (for callers outside the executor, e.g. reconcile).

    ``before_try``/``after_try`` bracket each try (take and give back a gate
    slot there, so that the backoff sleep holds no slot).
    """
    failures = 0
    while True:
        if before_try:
            before_try()
        try:
            return call_with_timeout(fn, timeout, op=op, vm=vm, host=host)
        except Exception as e:
            failures += 1
            if failures >= attempts or not is_transient(e):
                raise
        finally:
            if after_try:
                after_try()
        sleep(backoff.delay(failures))


class Watchdog:
    """One thread that runs a callback at each registered deadline unless it was cancelled first.

    The executor uses it for operation timeouts and retry backoffs, so that
    neither costs a thread per operation.
    """

    def __init__(self, name: str = "enact-watchdog"):
        import heapq
        import itertools

        self._heapq = heapq
        self._heap: list[tuple[float, int, list]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def watch(self, deadline: float, fn: Callable[[], None]) -> list:
        """Run ``fn`` at ``deadline`` (time.monotonic()); returns a handle for :meth:`cancel`."""
        handle = [fn]
        with self._cond:
            self._heapq.heappush(self._heap, (deadline, next(self._seq), handle))
            if self._heap[0][2] is handle:  # earlier than what the thread sleeps towards: wake it
                self._cond.notify()
        return handle

    def after(self, delay: float, fn: Callable[[], None]) -> list:
        return self.watch(time.monotonic() + delay, fn)

    @staticmethod
    def cancel(handle: list) -> None:
        handle[0] = None

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.monotonic()):
                    wait = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(wait)
                if self._stopped:
                    return
                _, _, handle = self._heapq.heappop(self._heap)
            fn = handle[0]
            if fn is not None:
                try:
                    fn()
                except Exception:  # pragma: no cover - a callback must not kill the watchdog
                    import logging

                    logging.getLogger(__name__).exception("watchdog callback")
