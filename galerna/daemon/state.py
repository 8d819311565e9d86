"""What a rebuild from the database replaces: the core and its clock's epoch, and the history kept beside it."""
from __future__ import annotations

from dataclasses import dataclass, field

from galerna.daemon import snapshot as snap
from galerna.schedule.scheduler import LeaseScheduler


@dataclass
class Live:
    """Shared by the parts of the daemon that read the core (journal, enactment, notifications); only the scheduler
    thread touches it."""

    core: LeaseScheduler = None  # type: ignore[assignment] - set by the first rebuild
    epoch: float = 0.0
    next_seq: int = 1  # the id of the next lease
    gone: dict[str, snap.Gone] = field(default_factory=dict)  # history phases on hosts removed since, by lease

    def to_core(self, t: float) -> float:
        return t - self.epoch

    def state(self, lid: str) -> str:
        return self.core.leases[lid].state.value
