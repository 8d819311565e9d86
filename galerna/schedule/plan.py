"""What the scheduling core hands back: typed notices of what happened and when.

The simulator reads them to drive its clock and its output; the daemon turns
them into persisted transitions and hypervisor actions. Nothing here is English
to be parsed back: an event carries its activity and its preemption mode as
enums and a refusal as a :class:`Refusal` value with its instants as numbers.
The shells format them (:meth:`Refusal.text`, :func:`describe`), each with its
own way of writing an instant.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Callable


class Activity(StrEnum):
    """What a lease's VMs do in one phase."""

    TRANSFER = "transfer"
    BOOT = "boot"
    RUN = "run"
    SUSPEND = "suspend"
    RESUME = "resume"
    MIGRATE = "migrate"
    SHUTDOWN = "shutdown"


class Notice(StrEnum):
    ACCEPTED = "accepted"  # AR / IM / deadline got a reservation
    REJECTED = "rejected"  # Event.refusal says why
    QUEUED = "queued"
    SCHEDULED = "scheduled"  # a reservation was made, or moved (Event.moved)
    PHASE_STARTED = "phase-started"  # Event.activity
    PHASE_ENDED = "phase-ended"  # Event.activity
    PREEMPTED = "preempted"  # Event.preemption
    DONE = "done"
    CANCELLED = "cancelled"  # Event.reason (a final state cancelled or failed)


class PreemptMode(StrEnum):
    """How a lease gave up its capacity."""

    UNSCHEDULE = "unschedule"  # a reservation not yet begun was taken back: queued again
    SUSPEND = "suspend"  # a running lease will be suspended, and resumed later
    CANCEL_AND_REQUEUE = "cancel-and-requeue"  # a running lease will lose its run (announced)
    REQUEUE = "requeue"  # the lost run ended now (or a failed resume): the lease is queued again


class RefusalKind(StrEnum):
    """Why the core refused a lease (or, for DEADLINE_MISSED, failed one in the queue)."""

    SITE_TOO_SMALL = "site-too-small"  # need/have: one resource summed over its VMs
    NODE_TOO_BIG = "node-too-big"  # node: a VM no single host can take
    CANNOT_PLACE = "cannot-place"  # vms: the VMs do not fit the empty site together
    ARS_NOT_ADMITTED = "ars-not-admitted"  # the admission policy takes no ARs
    TOO_SOON = "too-soon"  # at: the requested start, now: the present
    NO_CAPACITY_AT = "no-capacity-at"  # vms at ``at``
    IMAGE_TOO_LATE = "image-too-late"  # the image cannot reach the hosts before ``at``
    NO_CAPACITY_NOW = "no-capacity-now"  # vms, now
    MISSES_DEADLINE = "misses-deadline"  # at: the deadline it cannot meet
    DEADLINE_MISSED = "deadline-missed"  # a queued deadline lease that can no longer make it


def _g(t: float) -> str:
    return f"{t:g}"


@dataclass(frozen=True, slots=True)
class Refusal:
    kind: RefusalKind
    at: float | None = None  # the instant it is about (requested start, deadline)
    now: float | None = None
    need: float | None = None
    have: float | None = None
    resource: str = ""
    node: int | None = None
    vms: int = 0

    def text(self, instant: Callable[[float], str] = _g) -> str:
        """In English; ``instant`` writes a core time (the simulator: ``:g``; the daemon: ISO 8601)."""
        k = self.kind
        if k is RefusalKind.SITE_TOO_SMALL:
            return f"needs {self.need:g} {self.resource} in total, the site has {self.have:g}"
        if k is RefusalKind.NODE_TOO_BIG:
            return f"node {self.node} needs more than any single host has"
        if k is RefusalKind.CANNOT_PLACE:
            return f"its {self.vms} VMs cannot be placed on the site's hosts together"
        if k is RefusalKind.ARS_NOT_ADMITTED:
            return "advance reservations are not admitted (admission policy no-ars)"
        if k is RefusalKind.TOO_SOON:
            return f"requested start {instant(self.at)} leaves no time to prepare (now {instant(self.now)})"
        if k is RefusalKind.NO_CAPACITY_AT:
            return f"no capacity for {self.vms} VMs at {instant(self.at)}"
        if k is RefusalKind.IMAGE_TOO_LATE:
            # ``:g`` whatever the shell: the daemon has always shown this one instant raw
            return f"its image cannot reach the hosts before {self.at:g}"
        if k is RefusalKind.NO_CAPACITY_NOW:
            return f"no capacity for {self.vms} VMs now"
        if k is RefusalKind.MISSES_DEADLINE:
            return f"cannot finish by its deadline {instant(self.at)}"
        return "can no longer finish by its deadline"


@dataclass(frozen=True, slots=True)
class Event:
    time: float
    lease_id: str
    notice: Notice
    hosts: tuple[int, ...] = ()
    until: float | None = None  # PHASE_STARTED: when the phase is planned to end; SCHEDULED/ACCEPTED: its start
    activity: Activity | None = None  # PHASE_STARTED / PHASE_ENDED
    preemption: PreemptMode | None = None  # PREEMPTED
    refusal: Refusal | None = None  # REJECTED, and CANCELLED of a deadline lease that failed in the queue
    reason: str = ""  # CANCELLED: the reason the shell gave; SCHEDULED with moved: why, when not "earlier"
    moved: bool = False  # SCHEDULED: an existing reservation moved earlier (compression) or to other hosts (rebind)

    @property
    def detail(self) -> str:
        """The detail as text (:func:`describe`, instants as ``:g``), for display. Code that decides
        something compares ``activity``, ``preemption`` or ``refusal.kind`` instead."""
        return describe(self)


def _set_by_slots(cls: type) -> type:
    """Give a frozen slots dataclass an ``__init__`` with the dataclass's own signature
    that stores each field through its slot's descriptor instead of the dataclass's
    ``object.__setattr__`` per field: a third of the cost, and the core makes one
    :class:`Event` per notice (tens of thousands per simulated month). Instances stay
    frozen (their ``__setattr__`` still refuses)."""
    from dataclasses import MISSING, fields
    env, params, body = {}, [], []
    for f in fields(cls):
        assert f.init and f.default_factory is MISSING, f.name
        env[f"_set_{f.name}"] = getattr(cls, f.name).__set__
        if f.default is MISSING:
            params.append(f.name)
        else:
            env[f"_dflt_{f.name}"] = f.default
            params.append(f"{f.name}=_dflt_{f.name}")
        body.append(f"    _set_{f.name}(self, {f.name})")
    exec(f"def __init__(self, {', '.join(params)}):\n" + "\n".join(body), env)
    init = env["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = init
    return cls


_set_by_slots(Event)


def describe(e: Event, instant: Callable[[float], str] = _g) -> str:
    """The event's detail in one line of text, as the shells write it."""
    if e.activity is not None:
        return e.activity.value
    if e.preemption is not None:
        return e.preemption.value
    if e.refusal is not None:
        return e.refusal.text(instant)
    if e.moved:
        return e.reason or "earlier"
    return e.reason


class ChangeRefused(ValueError):
    """An update of a lease (``LeaseScheduler.change_end``) that cannot be granted; the text says why."""
