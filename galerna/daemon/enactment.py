"""What a failed hypervisor action does to its lease: the daemon's ONE failure-policy table (:func:`fate`). The
executor only reports results; the daemon alone decides."""
from __future__ import annotations

from enum import StrEnum

from galerna.enact.config import FailureOutcome, FailurePolicy
from galerna.enact.driver import OperationKind as Op

MAX_ENACT_REQUEUES = 3  # a lease whose VMs failed to start this many times fails


# ==================================================================== the failure policy
class Fate(StrEnum):
    """What a final failure of an action does to its lease."""

    NONE = "none"  # nothing: the lease was ending anyway (shutdown, destroy)
    REQUEUE = "requeue"  # back through the core's queue; its run is lost (a resuming lease keeps its progress)
    RESCHEDULE = "reschedule"  # the same, never again on the host that failed
    FAIL = "fail"  # the lease fails with the hypervisor's message


_STARTS = (Op.DEPLOY, Op.START, Op.RESUME)  # the lease's VMs did not come up: it can start again elsewhere


def outcome(kind: Op, policy: FailurePolicy) -> FailureOutcome:
    """The configured ``[enactment.failure]`` outcome for a failed action of ``kind``."""
    return {Op.DEPLOY: policy.deploy, Op.START: policy.deploy, Op.RESUME: policy.resume, Op.MIGRATE: policy.migrate,
            Op.SUSPEND: policy.suspend}.get(kind, policy.other)


def fate(kind: Op, policy: FailurePolicy, requeues: int) -> tuple[Fate, str]:
    """The one table: a lease whose action of ``kind`` failed for good, after ``requeues`` earlier requeues for
    enactment failures. Returns the fate and what to add to the reason. Only a failure to start VMs can requeue;
    a failed suspend, migrate or other operation leaves VMs in a state the core cannot plan from: the lease fails."""
    if kind in (Op.DESTROY, Op.SHUTDOWN):
        return Fate.NONE, ""
    out = outcome(kind, policy)
    if out is FailureOutcome.FAIL or kind not in _STARTS:
        return Fate.FAIL, ""
    if requeues >= MAX_ENACT_REQUEUES:
        return Fate.FAIL, f" (gave up after {MAX_ENACT_REQUEUES} requeues)"
    return (Fate.RESCHEDULE if out is FailureOutcome.RESCHEDULE else Fate.REQUEUE), ""
