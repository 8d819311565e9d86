"""The one failure-policy table of the daemon: what a final failure of a hypervisor action does to its lease."""
from __future__ import annotations

import pytest

from galerna.daemon.enactment import MAX_ENACT_REQUEUES, Fate, fate
from galerna.enact.config import FailureOutcome as O, FailurePolicy
from galerna.enact.driver import OperationKind as Op


@pytest.mark.parametrize("kind, configured, expected", [
    (Op.DEPLOY, O.REQUEUE, Fate.REQUEUE),
    (Op.DEPLOY, O.RESCHEDULE, Fate.RESCHEDULE),
    (Op.DEPLOY, O.FAIL, Fate.FAIL),
    (Op.START, O.RESCHEDULE, Fate.RESCHEDULE),  # a start follows the deploy policy
    (Op.RESUME, O.REQUEUE, Fate.REQUEUE),
    (Op.RESUME, O.FAIL, Fate.FAIL),
    (Op.MIGRATE, O.RESCHEDULE, Fate.FAIL),  # VMs caught between hosts: the core cannot plan from there
    (Op.SUSPEND, O.REQUEUE, Fate.FAIL),
    (Op.SHUTDOWN, O.FAIL, Fate.NONE),  # the lease was ending anyway
    (Op.DESTROY, O.FAIL, Fate.NONE),
])
def test_fate_per_operation_and_configured_outcome(kind, configured, expected):
    field = {Op.DEPLOY: "deploy", Op.START: "deploy", Op.RESUME: "resume", Op.MIGRATE: "migrate",
             Op.SUSPEND: "suspend"}.get(kind, "other")
    assert fate(kind, FailurePolicy(**{field: configured}), 0) == (expected, "")


def test_a_lease_that_failed_to_start_too_often_fails_saying_so():
    policy = FailurePolicy(deploy=O.RESCHEDULE)
    assert fate(Op.DEPLOY, policy, MAX_ENACT_REQUEUES - 1)[0] is Fate.RESCHEDULE
    what, more = fate(Op.DEPLOY, policy, MAX_ENACT_REQUEUES)
    assert what is Fate.FAIL and more == f" (gave up after {MAX_ENACT_REQUEUES} requeues)"


def test_the_executor_decides_no_lease_fate():
    """One owner per decision: the executor's result carries no lease state or outcome."""
    import galerna.enact.executor as executor

    fields = set(executor.ActionResult.__dataclass_fields__)
    assert not fields & {"lease_state", "outcome", "rescheduled_to"}
    assert "LeaseState" not in vars(executor) and "FailureOutcome" not in vars(executor)
