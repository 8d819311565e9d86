"""The parts every decision of the core reads, passed explicitly instead of a back-reference.

The front door (``scheduler.py``) builds one and keeps ``now`` current; decision
modules read the slot table, the ledger and the time model through it and
*return* what should happen. ``stats`` are cheap counters each pass adds to.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from galerna.config.schema import Config, ImageTransferConfig, SchedulingConfig
from galerna.model.site import Site
from galerna.schedule.book import Book
from galerna.schedule.images import ImageRepository
from galerna.schedule.mapper import Mapper
from galerna.schedule.phases import PhaseBuilder
from galerna.schedule.shapes import Shapes
from galerna.schedule.slottable import SlotTable
from galerna.schedule.timing import Timing


@dataclass
class Stats:
    """What the core's passes did, counted since it was built."""

    rounds: int = 0  # queue rounds run
    placed: int = 0  # queued leases given a start or a reservation by a round
    compressions: int = 0  # compression passes
    replans: int = 0  # reservations re-planned by compression (released and searched again)
    moves: int = 0  # of those, moved earlier
    filter_hits: int = 0  # reservations compression ruled out without a search
    preemptions: int = 0  # victims preempted
    trials: int = 0  # trial preemptions rolled back on the slot table
    rebinds: int = 0  # reservations the queue round moved to other hosts to let a lease start (rebind.py)


@dataclass
class CoreContext:
    site: Site
    config: Config
    cfg: SchedulingConfig
    cfg_images: ImageTransferConfig
    slots: SlotTable
    mapper: Mapper
    timing: Timing
    phases: PhaseBuilder
    shapes: Shapes
    book: Book
    images: ImageRepository | None
    now: float
    stats: Stats = field(default_factory=Stats)
