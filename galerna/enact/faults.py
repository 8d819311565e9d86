"""Failure, hang and latency injection: a driver wrapper for tests and benchmarks.

``FaultyDriver(inner)`` forwards every call; rules added with :meth:`fail`,
:meth:`hang`, :meth:`latency` or :meth:`down` make chosen calls (by operation
and VM name) raise, block until released, or sleep first.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from galerna.model.lease import DiskImage

from galerna.enact.driver import Driver, HostInfo, HypervisorError, OperationKind as Op, VMInfo, VMSpec


@dataclass
class Rule:
    op: Op | None  # None = every operation
    vm: str | None  # None = every VM
    mode: str  # fail | hang | latency
    times: int | None = None  # None = forever
    message: str = "injected failure"
    transient: bool = True
    delay: float = 0.0
    hits: int = 0
    release: threading.Event = field(default_factory=threading.Event)

    def matches(self, op: Op, vm: str | None) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        return (self.op is None or self.op is op) and (self.vm is None or self.vm == vm)


class FaultyDriver(Driver):
    def __init__(self, inner: Driver):
        self.inner = inner
        self.uri = inner.uri
        self.state_dir = inner.state_dir
        self.rules: list[Rule] = []
        self._lock = threading.Lock()
        self.is_down = False
        self.calls: list[tuple[Op, str | None]] = []
        self.active = 0  # calls in progress now (for concurrency checks)
        self.max_active = 0

    # --- rules -----------------------------------------------------------
    def fail(self, op: Op | None = None, vm: str | None = None, times: int | None = 1, *, message: str = "injected failure",
             transient: bool = True) -> Rule:
        return self._add(Rule(op, vm, "fail", times, message, transient))

    def hang(self, op: Op | None = None, vm: str | None = None, times: int | None = 1, *, max_s: float = 30.0) -> Rule:
        """Calls block until ``rule.release.set()`` (or ``max_s`` passes), then go through."""
        return self._add(Rule(op, vm, "hang", times, delay=max_s))

    def latency(self, seconds: float, op: Op | None = None, vm: str | None = None) -> Rule:
        return self._add(Rule(op, vm, "latency", None, delay=seconds))

    def down(self, is_down: bool = True) -> None:
        """The host's connection is gone: every call fails as a lost connection."""
        self.is_down = is_down

    def clear(self) -> None:
        with self._lock:
            for r in self.rules:
                r.release.set()
            self.rules.clear()

    def _add(self, rule: Rule) -> Rule:
        with self._lock:
            self.rules.append(rule)
        return rule

    # --- interception ----------------------------------------------------
    def _call(self, op: Op, vm: str | None, fn_name: str, *args: Any, **kw: Any) -> Any:
        with self._lock:
            self.calls.append((op, vm))
            fired = [r for r in self.rules if r.matches(op, vm)]
            for r in fired:
                r.hits += 1
        if self.is_down:
            raise HypervisorError("connection lost (injected)", op=op, vm=vm, host=self.uri, connection_lost=True)
        for r in fired:
            if r.mode == "fail":
                raise HypervisorError(r.message, op=op, vm=vm, host=self.uri, transient=r.transient)
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            for r in fired:
                if r.mode == "hang":
                    r.release.wait(r.delay)
                elif r.mode == "latency":
                    time.sleep(r.delay)
            return getattr(self.inner, fn_name)(*args, **kw)
        finally:
            with self._lock:
                self.active -= 1

    def deploy(self, spec: VMSpec) -> VMInfo:
        return self._call(Op.DEPLOY, spec.name, "deploy", spec)

    def start(self, name: str) -> VMInfo:
        return self._call(Op.START, name, "start", name)

    def shutdown(self, name: str, timeout: float = 30.0) -> VMInfo:
        return self._call(Op.SHUTDOWN, name, "shutdown", name, timeout)

    def destroy(self, name: str) -> VMInfo:
        return self._call(Op.DESTROY, name, "destroy", name)

    def suspend(self, name: str, state_file: str | None = None) -> VMInfo:
        return self._call(Op.SUSPEND, name, "suspend", name, state_file)

    def resume(self, name: str, state_file: str | None = None) -> VMInfo:
        return self._call(Op.RESUME, name, "resume", name, state_file)

    def pause(self, name: str) -> VMInfo:
        return self._call(Op.PAUSE, name, "pause", name)

    def unpause(self, name: str) -> VMInfo:
        return self._call(Op.UNPAUSE, name, "unpause", name)

    def reboot(self, name: str) -> VMInfo:
        return self._call(Op.REBOOT, name, "reboot", name)

    def reset(self, name: str) -> VMInfo:
        return self._call(Op.RESET, name, "reset", name)

    def forget(self, name: str) -> None:
        return self._call(Op.MIGRATE, name, "forget", name)

    def can_migrate_live(self, dest: Driver) -> bool:
        return self.inner.can_migrate_live(dest.inner if isinstance(dest, FaultyDriver) else dest)

    def migrate_live(self, name: str, dest: Driver) -> VMInfo:
        d = dest.inner if isinstance(dest, FaultyDriver) else dest
        return self._call(Op.MIGRATE, name, "migrate_live", name, d)

    def inspect(self, name: str) -> VMInfo:
        return self._call(Op.INSPECT, name, "inspect", name)

    def list(self) -> list[VMInfo]:
        return self._call(Op.LIST, None, "list")

    def host_info(self) -> HostInfo:
        return self._call(Op.INSPECT, None, "host_info")

    def alive(self) -> bool:
        return not self.is_down and self.inner.alive()

    def stage_image(self, image: DiskImage, source: str | None = None) -> str:
        return self._call(Op.STAGE_IMAGE, image.id, "stage_image", image, source)

    def default_state_file(self, name: str) -> str:
        return self.inner.default_state_file(name)

    def close(self) -> None:
        self.clear()
        self.inner.close()
