"""Whether an AR's end may change, and how (``LeaseScheduler.change_end`` applies it)."""
from __future__ import annotations

from enum import Enum

from galerna.model.lease import LeaseType
from galerna.schedule.lease import Activity, Lease
from galerna.schedule.plan import ChangeRefused
from galerna.schedule.timeline import EPS


class EndChange(Enum):
    FINISH = "finish"  # the new end is now or past, and the lease runs: its VMs stop now
    CANCEL = "cancel"  # the new end is now or past, and the lease has not started
    UNCHANGED = "unchanged"
    MOVE = "move"  # the run ends elsewhere: shorter, or longer if its hosts have room


def end_change(lease: Lease, new_end: float, now: float) -> EndChange:
    """What moving the end of the lease's run to ``new_end`` means; ChangeRefused when it may not."""
    if lease.type is not LeaseType.AR:
        raise ChangeRefused("only advance reservations can be extended or shortened")
    if lease.state.final:
        raise ChangeRefused(f"lease is already {lease.state.value}")
    runs = [p for p in lease.phases if p.activity is Activity.RUN]
    if not runs:
        raise ChangeRefused(f"lease has no run ahead (state {lease.state.value})")
    run = runs[-1]
    if new_end <= now + EPS:
        return EndChange.FINISH if run.started else EndChange.CANCEL
    if new_end <= run.start + EPS:
        raise ChangeRefused("the new end is not after the lease's start")
    if abs(new_end - run.end) <= EPS:
        return EndChange.UNCHANGED
    return EndChange.MOVE
