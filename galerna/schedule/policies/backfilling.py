"""Backfilling: how many best-effort leases of the queue a round gives a future reservation."""
from __future__ import annotations

from math import inf

from galerna.config.schema import Backfilling, SchedulingConfig


def reservation_limit(cfg: SchedulingConfig) -> float:
    """Conservative: every lease; aggressive: the first; intermediate: N; off: none (and
    the queue blocks behind its head, see ``blocks``)."""
    mode = cfg.backfilling
    if mode is Backfilling.CONSERVATIVE:
        return inf
    if mode is Backfilling.AGGRESSIVE:
        return 1
    if mode is Backfilling.INTERMEDIATE:
        return cfg.backfilling_reservations
    return 0


def blocks(cfg: SchedulingConfig) -> bool:
    """Whether a lease that cannot start now stops the round (no backfilling at all)."""
    return cfg.backfilling is Backfilling.OFF
