"""What the scheduling core hands back: notices of what happened and when.

The simulator reads them to drive its clock and its output; the daemon turns
them into persisted transitions and hypervisor actions.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Notice(StrEnum):
    ACCEPTED = "accepted"  # AR / IM / deadline got a reservation
    REJECTED = "rejected"
    QUEUED = "queued"
    SCHEDULED = "scheduled"  # a reservation was made or moved
    PHASE_STARTED = "phase-started"  # detail: the activity
    PHASE_ENDED = "phase-ended"
    PREEMPTED = "preempted"  # detail: suspend / requeue / unschedule
    DONE = "done"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Event:
    time: float
    lease_id: str
    notice: Notice
    detail: str = ""
    hosts: tuple[int, ...] = ()
    until: float | None = None  # for PHASE_STARTED: when the phase is planned to end
