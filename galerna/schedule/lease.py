"""The scheduler's bookkeeping for one lease: its state and its planned phases.

A phase is one activity (boot, run, suspend, resume, migrate, shutdown,
transfer) of all the lease's VMs over one interval, each VM on a host. The
phases still ahead form the lease's plan; finished ones become its history,
which is what the simulator writes out.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from galerna.model.lease import LeaseRequest, LeaseType
from galerna.model.state import LeaseState, check_transition
from galerna.schedule.plan import Activity, Refusal

__all__ = ["Activity", "Lease", "Phase", "Vec"]

Vec = tuple[float, ...]


@dataclass(slots=True)
class Phase:
    activity: Activity
    start: float
    end: float
    hosts: tuple[int, ...]  # one per VM
    holds: bool = True  # whether it holds the VMs' capacity on its hosts
    started: bool = False
    lost: bool = False  # a run that cancel-and-requeue will throw away
    transfer: object | None = None  # the images.Transfer of a TRANSFER phase


@dataclass(slots=True, eq=False)
class Lease:
    req: LeaseRequest
    vecs: tuple[Vec, ...]
    seq: int
    state: LeaseState = LeaseState.PENDING
    phases: list[Phase] = field(default_factory=list)
    history: list[Phase] = field(default_factory=list)
    lost: list[Phase] = field(default_factory=list)  # work thrown away by cancel-and-requeue
    remaining: float = 0.0  # planned run time still ahead
    hosts: tuple[int, ...] | None = None  # where its VMs or their saved state are
    suspensions: int = 0
    version: int = 0
    refusal: Refusal | None = None  # why the core rejected or failed it
    note: str = ""  # the reason a shell gave (cancel, requeue, fail)
    booted: bool = False
    ar_start: float | None = None  # an accepted AR: where it begins to hold capacity
    avoid: frozenset[int] = frozenset()  # hosts this lease must not be placed on (they failed it)
    # The compressor's memo of this lease (compression.pyx's _Memo): kept here so a
    # candidate costs an attribute read, not dict look-ups by its id.
    memo: object = field(default=None, repr=False, compare=False)

    @property
    def id(self) -> str:
        return self.req.id

    @property
    def reason(self) -> str:
        """Why it is where it is, in the simulator's words."""
        return self.refusal.text() if self.refusal is not None else self.note

    @property
    def type(self) -> LeaseType:
        return self.req.type

    def to(self, new: LeaseState) -> None:
        check_transition(self.req.id, self.state, new)
        self.state = new

    @property
    def preemptible(self) -> bool:
        return self.req.preemptible and self.req.type in (LeaseType.BE, LeaseType.DEADLINE)

    def first_run(self) -> float | None:
        for p in self.history:
            if p.activity is Activity.RUN:
                return p.start
        for p in self.phases:
            if p.activity is Activity.RUN and p.started:
                return p.start
        return None

    def last_run_end(self) -> float | None:
        for p in reversed(self.history):
            if p.activity is Activity.RUN:
                return p.end
        return None

    def __hash__(self) -> int:
        return self.seq
