"""The values decision modules return and the front door (``scheduler.py``) applies."""
from __future__ import annotations

from dataclasses import dataclass

from galerna.schedule.lease import Lease, Phase
from galerna.schedule.plan import Refusal
from galerna.schedule.preemption import PreemptionPlan


@dataclass(frozen=True)
class Accept:
    phases: list[Phase]
    ar_start: float | None = None  # an AR: where it begins to hold capacity


@dataclass(frozen=True)
class Refuse:
    refusal: Refusal


@dataclass(frozen=True)
class Preempt:
    """Accept the lease once these victims made way; then place it on [start, end)."""
    plan: PreemptionPlan
    start: float
    end: float


Admit = Accept | Refuse | Preempt


@dataclass(frozen=True)
class Place:
    """The queue round gives ``lease`` these phases (starting now, or a reservation)."""
    lease: Lease
    phases: list[Phase]


@dataclass(frozen=True)
class Fail:
    """The queue round fails ``lease`` (a deadline it can no longer meet)."""
    lease: Lease
    refusal: Refusal


@dataclass(frozen=True)
class Move:
    """Compression moves ``lease``'s reservation earlier, to ``phases``; or the queue round re-binds it to
    other hosts at the same instants (``rebind.py``)."""
    lease: Lease
    phases: list[Phase]
