"""Preemption: which requesters may preempt, which leases they may take, cheapest first.

Under ``ar-preempts-everything`` an AR preempts best-effort and deadline leases
(deadline ones only when they can still meet their own deadline, which the
preemptor checks); under ``deadline-aware`` a deadline lease may preempt too.
"""
from __future__ import annotations

from dataclasses import dataclass

from galerna.config.schema import Preemption
from galerna.model.lease import LeaseType
from galerna.schedule.lease import Lease


@dataclass(frozen=True)
class PreemptionPolicy:
    requesters: frozenset[LeaseType]  # types that may preempt when they do not fit
    victims: dict[LeaseType, frozenset[LeaseType]]  # requester type -> types it may preempt

    def may_preempt(self, requester: Lease) -> bool:
        return requester.type in self.requesters

    def victim_types(self, requester: Lease) -> frozenset[LeaseType]:
        return self.victims.get(requester.type, frozenset({LeaseType.BE}))


def cheapest_first(lease: Lease) -> tuple:
    """Victims in order: unstarted reservations, then the most recently submitted (aging: the younger a
    lease, the sooner it is preempted; past ``preemption_horizon`` it is not a candidate at all)."""
    return (lease.phases[0].started, -lease.req.submit, -lease.seq)


_BE_DL = frozenset({LeaseType.BE, LeaseType.DEADLINE})

POLICIES: dict[Preemption, PreemptionPolicy] = {
    Preemption.NONE: PreemptionPolicy(frozenset(), {LeaseType.AR: _BE_DL}),
    Preemption.AR_PREEMPTS_EVERYTHING: PreemptionPolicy(frozenset({LeaseType.AR}), {LeaseType.AR: _BE_DL}),
    Preemption.DEADLINE_AWARE: PreemptionPolicy(frozenset({LeaseType.AR, LeaseType.DEADLINE}),
                                                {t: _BE_DL for t in LeaseType}),
}
