"""The executor: runs a plan's actions through the gate on a thread pool.

This is what the daemon hands the scheduler's plan to. Actions of one VM run
in the order given (a failed one skips that VM's later actions); actions of
different VMs run as the gate allows. A thread runs an operation only once
the gate granted it a slot, so waiting requests tie up no thread and one
busy host never starves the others. Every operation has a timeout and
bounded retries; a retry gives its slot back and queues again at the back,
after a backoff. A final failure is reported with the hypervisor's message;
what it does to the lease is the daemon's decision, not the executor's.
"""
from __future__ import annotations

import itertools
import logging
import random
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Callable, Iterable, Mapping

from galerna.model.lease import DiskImage

from galerna.enact.config import EnactmentConfig
from galerna.enact.driver import (
    Driver,
    HostState,
    HypervisorError,
    OperationKind as Op,
    OperationTimeout,
    StateMover,
    VMInfo,
    VMSpec,
    VMState,
    local_move,
    migrate,
)
from galerna.enact.gate import Gate, Ticket
from galerna.enact.identity import left_alone, ours
from galerna.enact.inventory import Desired, Inventory, VMRecord
from galerna.enact.retry import Backoff, Watchdog, call_with_timeout, is_transient

log = logging.getLogger(__name__)
_ids = itertools.count(1)


@dataclass(frozen=True)
class Action:
    kind: Op
    vm: str
    host: str
    spec: VMSpec | None = None  # DEPLOY (and RESCHEDULE needs it)
    dest: str | None = None  # MIGRATE
    state_file: str | None = None  # SUSPEND / RESUME
    image: DiskImage | None = None  # STAGE_IMAGE
    image_source: str | None = None
    lease_id: str | None = None
    tenant: str | None = None
    stale: bool = False  # removes a stale copy: leaves the inventory alone
    id: int = field(default_factory=lambda: next(_ids))

    @classmethod
    def deploy(cls, spec: VMSpec, host: str) -> "Action":
        return cls(Op.DEPLOY, spec.name, host, spec=spec, lease_id=spec.lease_id, tenant=spec.tenant)

    def describe(self) -> str:
        to = f" -> {self.dest}" if self.dest else ""
        return f"{self.kind.value} {self.vm} on {self.host}{to}"


class Status(StrEnum):
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"  # an earlier action of the same VM failed


@dataclass
class ActionResult:
    action: Action
    status: Status
    info: VMInfo | None = None
    error: str | None = None  # the hypervisor's message
    attempts: int = 0
    started: float = 0.0
    finished: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status is Status.OK


@dataclass(eq=False)
class _Attempt:
    job: "_Job"
    claimed: bool = False


@dataclass
class _Job:
    action: Action
    future: Future
    attempts: int = 0
    started: float = 0.0
    tickets: list[Ticket] = field(default_factory=list)


class Executor:
    def __init__(
        self,
        drivers: Mapping[str, Driver],
        gate: Gate | None = None,
        config: EnactmentConfig | None = None,
        *,
        inventory: Inventory | None = None,
        on_result: Callable[[ActionResult], None] | None = None,
        mover: StateMover = local_move,
        seed: int | None = None,
    ):
        self.config = config or EnactmentConfig()
        self.drivers = dict(drivers)
        self.gate = gate or Gate(self.config.gate)
        self.inventory = inventory or Inventory()
        self.on_result = on_result
        self.mover = mover
        self.backoff = Backoff.from_config(self.config.retry)
        self._rng = random.Random(seed)
        self._pool = ThreadPoolExecutor(self.config.workers, thread_name_prefix="enact")
        self._lock = threading.Lock()
        self._tails: dict[str, Future] = {}
        self._watchdog = Watchdog()
        self._closed = False
        self.deployment: str | None = None  # set by the daemon: VMs stamped by another deployment are left alone

    # ------------------------------------------------------------------ API
    def submit(self, action: Action) -> "Future[ActionResult]":
        """Queue one action; the future resolves to its :class:`ActionResult` (never raises)."""
        if action.host not in self.drivers or (action.dest is not None and action.dest not in self.drivers):
            raise KeyError(f"unknown host in {action.describe()}")
        fut: Future = Future()
        job = _Job(action, fut)
        with self._lock:
            if self._closed:
                raise RuntimeError("executor is shut down")
            prev = self._tails.get(action.vm)
            self._tails[action.vm] = fut

        def after_prev(p: Future) -> None:
            r: ActionResult = p.result()
            if r.status is Status.OK:
                self._enqueue(job)
            else:
                self._finish(job, ActionResult(action, Status.SKIPPED, error=f"skipped: {r.action.describe()} failed"))

        if prev is None or prev.done() and prev.result().status is Status.OK:
            self._enqueue(job)
        else:
            prev.add_done_callback(after_prev)
        return fut

    def run_plan(self, actions: Iterable[Action], timeout: float | None = None) -> list[ActionResult]:
        """Submit every action and wait for all of them; results in the order given."""
        futures = [self.submit(a) for a in actions]
        wait(futures, timeout)  # one wake-up when all are done, not one per result
        return [f.result(0 if timeout is not None else None) for f in futures]

    def prestart(self) -> None:
        """Start every worker thread now rather than on the first busy moment."""
        n = self.config.workers
        barrier = threading.Barrier(n)
        futures = [self._pool.submit(barrier.wait, 5) for _ in range(n)]
        for f in futures:
            try:
                f.result()
            except threading.BrokenBarrierError:
                pass

    def busy(self, vm: str) -> bool:
        """Whether an action of this VM is queued or running."""
        with self._lock:
            return vm in self._tails

    def attach(self, uri: str, driver: Driver) -> None:
        """A host added while running: it has just answered (a removed host may have been left in error). A new
        dict, not a changed one: worker threads may be reading the old."""
        self.drivers = {**self.drivers, uri: driver}
        self.inventory.hosts[uri] = HostState.UP

    def detach(self, uri: str) -> list[VMRecord]:
        """A host removed: no action goes to it any more. Returns the records of the VMs left on it, which are no
        longer Galerna's."""
        self.drivers = {u: d for u, d in self.drivers.items() if u != uri}
        return self.inventory.forget_host(uri)

    def close(self, wait: bool = True) -> None:
        with self._lock:
            self._closed = True
        self._watchdog.stop()
        self._pool.shutdown(wait=wait, cancel_futures=not wait)

    # ------------------------------------------------------------------ flow
    def _enqueue(self, job: _Job) -> None:
        a = job.action
        job.tickets = []
        if a.kind is Op.MIGRATE and a.dest:
            first, second = sorted([a.host, a.dest])

            def got_first(t: Ticket) -> None:
                job.tickets.append(t)
                self.gate.request(second, a.kind, a.tenant, on_grant=got_second, label=a.vm, count_global=False)

            def got_second(t: Ticket) -> None:
                job.tickets.append(t)
                self._dispatch(job)

            self.gate.request(first, a.kind, a.tenant, on_grant=got_first, label=a.vm)
        else:

            def granted(t: Ticket) -> None:
                job.tickets.append(t)
                self._dispatch(job)

            self.gate.request(a.host, a.kind, a.tenant, on_grant=granted, label=a.vm)

    def _dispatch(self, job: _Job) -> None:
        try:
            self._pool.submit(self._run, job)
        except RuntimeError:  # pool shut down
            self._release(job)
            self._finish(job, ActionResult(job.action, Status.FAILED, error="executor shut down", attempts=job.attempts))

    def _release(self, job: _Job) -> None:
        for t in job.tickets:
            self.gate.release(t)
        job.tickets = []

    def _run(self, job: _Job) -> None:
        a = job.action
        job.attempts += 1
        if not job.started:
            job.started = time.monotonic()
        attempt = _Attempt(job)
        timeout = self.config.retry.timeout(a.kind)
        handle = None
        if timeout and timeout > 0:
            handle = self._watchdog.after(timeout, lambda: self._on_timeout(attempt, timeout))
        try:
            info = self._perform(a)
            err: Exception | None = None
        except Exception as e:  # noqa: BLE001 - every failure is reported
            err = e
        if not self._claim(attempt):
            return  # timed out meanwhile: this late result is dropped (drivers are idempotent)
        if handle is not None:
            self._watchdog.cancel(handle)
        if err is not None:
            self._failed(job, err)
            return
        self._release(job)
        self._record(a, info)
        self._finish(job, ActionResult(a, Status.OK, info=info, attempts=job.attempts))

    def _claim(self, attempt: "_Attempt") -> bool:
        with self._lock:
            if attempt.claimed:
                return False
            attempt.claimed = True
            return True

    def _on_timeout(self, attempt: "_Attempt", seconds: float) -> None:
        """Watchdog thread: the operation hangs. Its slot is given back; the call is left to finish on its own."""
        if not self._claim(attempt):
            return
        a = attempt.job.action
        err = OperationTimeout(a.kind, seconds, vm=a.vm, host=a.host)
        try:
            self._pool.submit(self._failed, attempt.job, err)
        except RuntimeError:  # shut down
            self._release(attempt.job)
            self._finish(attempt.job, ActionResult(a, Status.FAILED, error=err.hypervisor_message,
                                                   attempts=attempt.job.attempts))

    def _failed(self, job: _Job, e: Exception) -> None:
        a = job.action
        self._release(job)
        if is_transient(e) and job.attempts < self.config.retry.attempts and not self._closed:
            delay = self.backoff.delay(job.attempts, self._rng)
            log.info("%s failed (%s); retry %d in %.2fs", a.describe(), e, job.attempts, delay)
            self._watchdog.after(delay, lambda: self._enqueue(job))  # back of the queue, holding no slot
            return
        self._final_failure(job, e)

    def _perform(self, a: Action) -> VMInfo:
        d = self.drivers[a.host]
        k = a.kind
        if k is Op.DEPLOY:
            assert a.spec is not None, "a deploy needs a VMSpec"
            return d.deploy(a.spec)
        if k is Op.START:
            return d.start(a.vm)
        # known: the database names it (adopted), or the caller (reconcile, recovery) already checked its stamp
        known = a.stale or a.vm in self.inventory
        if k in (Op.SHUTDOWN, Op.DESTROY) and (other := left_alone(d, a.vm, self.deployment, known)):
            log.warning("%s: %s is another deployment's VM (%s); left alone", a.describe(), a.vm, other.deployment)
            return other
        if k is Op.SHUTDOWN:
            return d.shutdown(a.vm, self.config.retry.shutdown_grace)
        if k is Op.DESTROY:
            return d.destroy(a.vm)
        if k is Op.SUSPEND:
            return d.suspend(a.vm, a.state_file)
        if k is Op.RESUME:
            return d.resume(a.vm, a.state_file)
        if k is Op.PAUSE:
            return d.pause(a.vm)
        if k is Op.UNPAUSE:
            return d.unpause(a.vm)
        if k is Op.REBOOT:
            return d.reboot(a.vm)
        if k is Op.RESET:
            return d.reset(a.vm)
        if k is Op.MIGRATE:
            assert a.dest is not None
            return migrate(d, self.drivers[a.dest], a.vm, live=self.config.live_migration, mover=self.mover)
        if k is Op.STAGE_IMAGE:
            assert a.image is not None
            path = d.stage_image(a.image, a.image_source)
            return VMInfo(a.vm, VMState.ABSENT, a.host, state_file=path)
        if k is Op.INSPECT:
            return d.inspect(a.vm)
        raise HypervisorError(f"unsupported action {k}", op=k, vm=a.vm, transient=False)

    def _record(self, a: Action, info: VMInfo) -> None:
        inv = self.inventory
        k = a.kind
        if a.stale:
            return
        if k is Op.DEPLOY and a.spec is not None:
            inv.put(VMRecord(a.spec, a.host, Desired.RUNNING, info.state, since=time.monotonic()))
        elif k in (Op.SHUTDOWN, Op.DESTROY):
            inv.remove(a.vm)
        elif k is Op.SUSPEND:
            inv.update(a.vm, desired=Desired.SUSPENDED, observed=info.state, state_file=info.state_file)
        elif k in (Op.RESUME, Op.START):
            inv.update(a.vm, desired=Desired.RUNNING, observed=info.state, state_file=None)
        elif k is Op.MIGRATE and a.dest:
            inv.update(a.vm, host=a.dest, desired=Desired.RUNNING, observed=info.state, state_file=None)
        elif k in (Op.PAUSE, Op.UNPAUSE, Op.REBOOT, Op.RESET, Op.INSPECT):
            inv.update(a.vm, observed=info.state)

    def _final_failure(self, job: _Job, e: Exception) -> None:
        a = job.action
        msg = e.hypervisor_message if isinstance(e, HypervisorError) else f"{type(e).__name__}: {e}"
        if a.kind is Op.DEPLOY:
            self._cleanup_failed_deploy(a)
        log.warning("%s failed for good after %d tries: %s", a.describe(), job.attempts, msg)
        self._finish(job, ActionResult(a, Status.FAILED, error=msg, attempts=job.attempts))

    def _cleanup_failed_deploy(self, a: Action) -> None:
        """A deploy that failed (or hung) may still come up later: make sure it does not."""
        d = self.drivers[a.host]

        def clean() -> None:
            info = d.inspect(a.vm)
            if a.spec is not None and not ours(info.deployment, a.spec.deployment, known=False):
                return  # the deploy failed because another deployment's VM has the name: not ours to remove
            if info.state in (VMState.RUNNING, VMState.PAUSED, VMState.SHUTOFF, VMState.CRASHED):
                d.destroy(a.vm)  # never touch a VM that has saved state

        try:
            call_with_timeout(clean, self.config.retry.timeout(Op.DESTROY), op=Op.DESTROY, vm=a.vm,
                              host=a.host)
        except Exception as err:  # noqa: BLE001 - reconcile catches what is left
            log.warning("cleanup of failed deploy %s on %s: %s", a.vm, a.host, err)
        self.inventory.remove(a.vm)

    def _finish(self, job: _Job, result: ActionResult) -> None:
        result.started = job.started
        result.finished = time.monotonic()
        with self._lock:
            if self._tails.get(job.action.vm) is job.future:
                del self._tails[job.action.vm]
        if self.on_result is not None:
            try:
                self.on_result(result)
            except Exception:  # pragma: no cover
                log.exception("on_result callback")
        job.future.set_result(result)
