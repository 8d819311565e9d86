"""Lease states and the transitions allowed between them (after Haizea's)."""
from __future__ import annotations

from enum import StrEnum


class LeaseState(StrEnum):
    PENDING = "pending"
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    PREPARING = "preparing"
    READY = "ready"
    ACTIVE = "active"
    SUSPENDING = "suspending"
    SUSPENDED_PENDING = "suspended-pending"
    SUSPENDED_QUEUED = "suspended-queued"
    SUSPENDED_SCHEDULED = "suspended-scheduled"
    MIGRATING = "migrating"
    RESUMING = "resuming"
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"
    REJECTED = "rejected"

    @property
    def final(self) -> bool:
        return self in FINAL_STATES


S = LeaseState
# The one list of each: the core, the daemon, the REST API and the XML-RPC interface all read these.
FINAL_STATES: frozenset[LeaseState] = frozenset({S.DONE, S.CANCELLED, S.FAILED, S.REJECTED})
# Waiting for capacity: queued, or holding a reservation that has not started (the API's queue).
WAITING_STATES: frozenset[LeaseState] = frozenset(
    {S.PENDING, S.QUEUED, S.SCHEDULED, S.SUSPENDED_QUEUED, S.SUSPENDED_SCHEDULED})
_ENDS = {S.CANCELLED, S.FAILED}

TRANSITIONS: dict[LeaseState, frozenset[LeaseState]] = {
    S.PENDING: frozenset({S.SCHEDULED, S.QUEUED, S.REJECTED, S.CANCELLED}),
    # A queued deadline lease fails when its deadline can no longer be met.
    S.QUEUED: frozenset({S.SCHEDULED, S.REJECTED} | _ENDS),
    # A scheduled lease can be unscheduled (preempted before it starts) back to the queue.
    S.SCHEDULED: frozenset({S.PREPARING, S.READY, S.ACTIVE, S.QUEUED, S.PENDING, S.SCHEDULED} | _ENDS),
    S.PREPARING: frozenset({S.READY, S.QUEUED, S.PENDING} | _ENDS),
    S.READY: frozenset({S.ACTIVE, S.QUEUED, S.PENDING} | _ENDS),
    # ACTIVE -> QUEUED is cancel-and-requeue; ACTIVE -> ACTIVE never happens.
    S.ACTIVE: frozenset({S.SUSPENDING, S.QUEUED, S.DONE} | _ENDS),
    S.SUSPENDING: frozenset({S.SUSPENDED_PENDING} | _ENDS),
    S.SUSPENDED_PENDING: frozenset({S.SUSPENDED_QUEUED, S.SUSPENDED_SCHEDULED} | _ENDS),
    S.SUSPENDED_QUEUED: frozenset({S.SUSPENDED_SCHEDULED} | _ENDS),
    S.SUSPENDED_SCHEDULED: frozenset(
        {S.SUSPENDED_QUEUED, S.SUSPENDED_PENDING, S.MIGRATING, S.RESUMING} | _ENDS
    ),
    S.MIGRATING: frozenset({S.SUSPENDED_SCHEDULED, S.RESUMING} | _ENDS),
    # RESUMING -> SUSPENDED_QUEUED: the resume failed on the hypervisor; the saved state is still there.
    S.RESUMING: frozenset({S.ACTIVE, S.SUSPENDED_QUEUED} | _ENDS),
    S.DONE: frozenset(),
    S.CANCELLED: frozenset(),
    S.FAILED: frozenset(),
    S.REJECTED: frozenset(),
}


class IllegalTransition(RuntimeError):
    def __init__(self, lease_id: str, old: LeaseState, new: LeaseState):
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[old])) or "none (final state)"
        super().__init__(f"lease {lease_id}: illegal transition {old.value} -> {new.value} (allowed: {allowed})")
        self.lease_id, self.old, self.new = lease_id, old, new


def check_transition(lease_id: str, old: LeaseState, new: LeaseState) -> None:
    if new not in TRANSITIONS[old]:
        raise IllegalTransition(lease_id, old, new)
