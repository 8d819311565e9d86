"""The daemon's operations: what arrives in the scheduler thread's inbox, each a dataclass with ``apply(ctx)``.

``apply`` runs in the scheduler thread, inside one batch (:class:`Batch`): it asks the core, adds the core's events
and the leases it touched to the batch, and returns the answer (or raises :class:`Refused`). Nobody is answered
before the batch commits (:meth:`Op.settle`).
"""
from __future__ import annotations

import logging
from concurrent.futures import Future
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar

from galerna.enact.executor import ActionResult
from galerna.model.lease import DiskImage, LeaseRequest, LeaseType
from galerna.schedule.lease import Activity as A
from galerna.schedule.plan import ChangeRefused, Event
from galerna.schedule.scheduler import LeaseScheduler

from galerna.daemon.enactment import Enactment
from galerna.daemon.errors import ErrorKind, Refused
from galerna.daemon.hosts import HostRegistry
from galerna.daemon.idempotency import Key
from galerna.daemon.journal import Journal
from galerna.daemon.notify import Notifier
from galerna.daemon.state import Live
from galerna.daemon.views import lease_view, stub_view

log = logging.getLogger("galerna.daemon")


@dataclass
class Batch:
    """One wake-up of the scheduler thread: the parts an operation may touch, and what the batch gathers."""

    live: Live
    hosts: HostRegistry
    enactment: Enactment
    journal: Journal
    notifier: Notifier
    now: float  # Unix time
    t: float  # the core's time
    events: list[Event] = field(default_factory=list)
    touched: set[str] = field(default_factory=set)  # leases whose rows change
    new: list[tuple[LeaseRequest, str | None]] = field(default_factory=list)  # (request, name) of new leases
    rebuild: bool = False  # the hosts changed: rebuild the core from the database after the commit
    fresh: list[str] = field(default_factory=list)  # hosts added or enabled: capacity the rebuilt core may use

    @property
    def core(self) -> LeaseScheduler:
        return self.live.core


@dataclass
class Op:
    kind: ClassVar[str]  # its name in Service.call (transition)
    future: Future | None = field(default=None, kw_only=True, repr=False, compare=False)

    def apply(self, ctx: Batch) -> Any:
        raise NotImplementedError

    def run(self, ctx: Batch) -> Any:
        """``apply``, with a refusal as the answer rather than raised."""
        try:
            return self.apply(ctx)
        except Refused as e:
            return e
        except (ValueError, KeyError) as e:
            return Refused(str(e), ErrorKind.INVALID)

    def answer(self, value: Any, ctx: Batch) -> Any:
        """The answer once the batch committed (``value``: what ``apply`` returned)."""
        return value

    def fallback(self, value: Any, ctx: Batch) -> Any:
        """The answer when :meth:`answer` failed after the commit: what ``apply`` returned (it was carried out)."""
        return value

    def settle(self, value: Any, ctx: Batch) -> None:
        if isinstance(value, Exception):
            if self.future is not None:
                self.future.set_exception(value)
            return
        try:
            value = self.answer(value, ctx)
        except Exception:  # noqa: BLE001 - the batch is committed: the caller is told it was, whatever the view does
            log.exception("%s: its answer could not be made after the commit; answering without it", self.kind)
            value = self.fallback(value, ctx)
        if self.future is not None and not self.future.done():
            self.future.set_result(value)


def _live_lease(ctx: Batch, lid: str):
    lease = ctx.core.leases.get(lid)
    if lease is None or lease.state.final:
        raise Refused("the lease is already in a final state")
    return lease


# ==================================================================== from the API
@dataclass
class Submit(Op):
    """A new lease request (times in Unix seconds). Answers the lease's view once committed."""

    kind: ClassVar[str] = "submit"
    type: str
    duration: float
    nodes: list[dict[str, float]]
    start: float | None = None
    deadline: float | None = None
    preemptible: bool = True
    image: DiskImage | None = None
    tenant: str | None = None
    name: str | None = None
    idempotency: Key | None = None  # a retry with the same key answers the lease the first request made

    def apply(self, ctx: Batch) -> str:
        if self.idempotency is not None and (made := ctx.journal.keys.claimed(self.idempotency)) is not None:
            return made
        req = self.request(ctx)
        ctx.events += ctx.core.submit(req, ctx.t)
        ctx.new.append((req, self.name))
        if self.idempotency is not None:
            ctx.journal.keys.claim(self.idempotency, req.id)
        return req.id

    def request(self, ctx: Batch) -> LeaseRequest:
        live = ctx.live
        seq, live.next_seq = live.next_seq, live.next_seq + 1
        rtype = LeaseType(self.type)
        start = None if rtype in (LeaseType.IM, LeaseType.BE) else self.start
        req = LeaseRequest(
            id=str(seq), type=rtype, submit=ctx.t, duration=self.duration, nodes=tuple(self.nodes),
            start=None if start is None else live.to_core(start),
            deadline=None if self.deadline is None else live.to_core(self.deadline),
            preemptible=self.preemptible, image=self.image, tenant=self.tenant,
            extra={"name": self.name} if self.name else {},
        )
        ctx.core.site.vector({k: v for n in req.nodes for k, v in n.items()})  # unknown resource: ValueError
        return req

    def answer(self, value: str, ctx: Batch) -> dict:
        row = ctx.journal.new_rows.get(value)
        return lease_view(row if row is not None else ctx.journal.lease_row(value))  # a replay: the lease as it is

    def fallback(self, value: str, ctx: Batch) -> dict:
        return stub_view(ctx.journal.new_rows[value])


@dataclass
class Cancel(Op):
    kind: ClassVar[str] = "cancel"
    lease_id: str
    reason: str = "cancelled by its owner"

    def apply(self, ctx: Batch) -> str:
        _live_lease(ctx, self.lease_id)
        ctx.events += ctx.core.cancel(self.lease_id, ctx.t, self.reason)
        ctx.touched.add(self.lease_id)
        return self.lease_id


@dataclass
class Finished(Op):
    """The lease's VMs stopped on their own (Haizea's EVENT_END_VM)."""

    kind: ClassVar[str] = "finished"
    lease_id: str

    def apply(self, ctx: Batch) -> str:
        lease = _live_lease(ctx, self.lease_id)
        if not (lease.phases and lease.phases[0].activity is A.RUN and lease.phases[0].started):
            raise Refused(f"lease {self.lease_id} is not running (state {lease.state.value})")
        ctx.events += ctx.core.vms_finished(self.lease_id, ctx.t)
        ctx.touched.add(self.lease_id)
        return self.lease_id


@dataclass
class ChangeEnd(Op):
    """An advance reservation's new end (Unix time)."""

    kind: ClassVar[str] = "end"
    lease_id: str
    end: float

    def apply(self, ctx: Batch) -> str:
        if self.lease_id not in ctx.core.leases:
            raise Refused("the lease is already in a final state")
        try:
            ctx.events += ctx.core.change_end(self.lease_id, ctx.live.to_core(self.end), ctx.t)
        except ChangeRefused as e:
            raise Refused(str(e)) from None
        ctx.touched.add(self.lease_id)
        return self.lease_id


@dataclass
class HostChange(Op):
    """Add, remove, enable, disable or put a host in maintenance; the core is rebuilt after the commit."""

    kind: ClassVar[str] = "host"
    action: str
    name: str
    uri: str | None = None
    cpu: float | None = None
    memory: float | None = None
    extra: dict | None = None

    def apply(self, ctx: Batch) -> dict:
        out, removed_uri = ctx.hosts.change(ctx.core, self.action, self.name, self.uri, self.cpu, self.memory,
                                            self.extra)
        if removed_uri:
            ctx.enactment.forget_host(removed_uri)
        ctx.rebuild = True
        if self.action in ("add", "enable"):
            ctx.fresh.append(self.name)
        ctx.notifier.host_changed(self.name, self.action, ctx.now)
        return out


@dataclass
class Fail(Op):
    """The lease fails with ``reason`` (its VMs are destroyed)."""

    kind: ClassVar[str] = "fail"
    lease_id: str
    reason: str

    def apply(self, ctx: Batch) -> None:
        lease = ctx.core.leases.get(self.lease_id)
        if lease is not None and not lease.state.final:
            ctx.events += ctx.core.fail(self.lease_id, ctx.t, self.reason)
            ctx.touched.add(self.lease_id)


# ==================================================================== from enactment
@dataclass
class Result(Op):
    """An action's result from the executor."""

    kind: ClassVar[str] = "result"
    result: ActionResult

    def apply(self, ctx: Batch) -> None:
        ctx.events += ctx.enactment.result(self.result, ctx.t, ctx.touched)


@dataclass
class Health(Op):
    """The monitor found the host at ``uri`` answering again (``up``) or not."""

    kind: ClassVar[str] = "health"
    uri: str
    up: bool

    def apply(self, ctx: Batch) -> None:
        changed = ctx.hosts.record_health(self.uri, self.up)
        if changed is None:
            return
        name, admin_state = changed
        ctx.hosts.set_placeable(ctx.core, name, admin_state, "up" if self.up else "error", ctx.t)
        i = ctx.hosts.index(name)
        if i is not None:
            detail = f"host {name} answers again" if self.up else f"host {name} does not answer; its VMs are unknown"
            for lease in ctx.core.live:
                if lease.hosts is not None and i in lease.hosts and ctx.enactment.desired(lease) is not None:
                    ctx.journal.note(lease.id, ctx.t + ctx.live.epoch, "host-up" if self.up else "host-down",
                                     detail, [name])
        ctx.notifier.host(name, self.up, ctx.hosts.clock())


@dataclass
class Recovered(Op):
    """Recovery did something to a VM of a lease; ``step = "requeue"``: it gave the VM up, the core places it again."""

    kind: ClassVar[str] = "recovered"
    lease_id: str
    step: str
    vm: str
    host: str
    detail: str = ""

    def apply(self, ctx: Batch) -> None:
        if self.step == "requeue":
            ctx.events += ctx.enactment.outage_requeue(self.lease_id, self.host, ctx.t, ctx.touched)
        elif self.lease_id in ctx.core.leases:
            ctx.journal.note(self.lease_id, ctx.now, "recovery",
                             f"{self.step} {self.vm} on {self.host}" + (f": {self.detail}" if self.detail else ""),
                             [self.host])


@dataclass
class Wake(Op):
    """Nothing but the batch's queue round (a host became placeable outside a batch)."""

    kind: ClassVar[str] = "wake"

    def apply(self, ctx: Batch) -> None:
        return None


def checked(cls: type[Op], args: dict[str, Any], future: Future | None = None) -> Op:
    """``cls(**args)``, with an unknown or missing argument refused (``ErrorKind.INVALID``) and named, for operations
    built from a caller's fields (a lease request)."""
    names = {f.name for f in fields(cls)} - {"future"}
    bad = sorted(set(args) - names)
    missing = sorted(f.name for f in fields(cls) if f.name in names and f.name not in args
                     and f.default is MISSING and f.default_factory is MISSING)
    if bad or missing:
        raise Refused(f"{cls.kind}: " + "; ".join(([f"unknown argument(s) {', '.join(bad)}"] if bad else [])
                                                + ([f"missing {', '.join(missing)}"] if missing else [])),
                      ErrorKind.INVALID)
    return cls(**args, future=future)
