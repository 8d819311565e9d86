"""A lease request: what a user asked for, immutable once submitted.

The scheduler keeps its own mutable bookkeeping (state, reservations) apart
from the request, so readers, the API and the database all share this one
plain description.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Mapping


class LeaseType(StrEnum):
    AR = "ar"  # advance reservation: exact start or rejected
    BE = "be"  # best effort: queued, FCFS with backfilling
    IM = "im"  # immediate: now or rejected
    DEADLINE = "deadline"  # earliest start + latest end


@dataclass(frozen=True, slots=True)
class DiskImage:
    id: str
    size_mb: float


@dataclass(frozen=True, slots=True)
class LeaseRequest:
    """One lease as requested.

    ``nodes`` holds one resource mapping per VM (``cpu`` in cores, ``memory``
    in MB, plus any further named resource); the VMs of a lease start and
    stop together. ``start`` is the exact start of an AR and the earliest
    start of a deadline lease.
    """

    id: str
    type: LeaseType
    submit: float
    duration: float
    nodes: tuple[Mapping[str, float], ...]
    start: float | None = None
    deadline: float | None = None
    real_duration: float | None = None
    preemptible: bool = True
    image: DiskImage | None = None
    tenant: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = []
        if not self.nodes:
            problems.append("a lease needs at least one node")
        if self.duration <= 0:
            problems.append(f"duration must be positive, got {self.duration}")
        if self.real_duration is not None and self.real_duration <= 0:
            problems.append(f"real duration must be positive, got {self.real_duration}")
        if self.submit < 0:
            problems.append(f"submit time must not be negative, got {self.submit}")
        if self.type in (LeaseType.AR, LeaseType.DEADLINE) and self.start is None:
            problems.append(f"a {self.type.value} lease needs a start time")
        if self.type is LeaseType.DEADLINE:
            if self.deadline is None:
                problems.append("a deadline lease needs a deadline")
            elif self.start is not None and self.deadline < self.start + self.duration:
                problems.append(
                    f"deadline {self.deadline} is before earliest start {self.start} + duration {self.duration}"
                )
        for i, node in enumerate(self.nodes):
            for k, v in node.items():
                if v < 0:
                    problems.append(f"node {i}: resource {k} must not be negative, got {v}")
        if problems:
            raise ValueError(f"lease {self.id}: " + "; ".join(problems))

    @property
    def runtime(self) -> float:
        """How long the lease really runs (the requested duration when unknown)."""
        return self.real_duration if self.real_duration is not None else self.duration

    @property
    def n_nodes(self) -> int:
        return len(self.nodes)

    @property
    def memory_mb(self) -> float:
        """Memory of the largest VM: what a suspension must save."""
        return max(n.get("memory", 0.0) for n in self.nodes)
