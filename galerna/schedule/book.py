"""The ledger of the core: which leases there are, which wait, what they hold.

It records; it decides nothing. The queue (waiting without a reservation) and
the reserved list (best-effort and deadline leases with a future reservation)
are sorted by (submit, arrival). Holding and releasing a plan edits the slot
table and the image link; released capacity is remembered as freed spans for
the next compression, and two flags tell the front door what its next pass
must do.
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import Iterator

from sortedcontainers import SortedList

from galerna.model.lease import LeaseType
from galerna.model.state import LeaseState
from galerna.schedule.events import EventQueue
from galerna.schedule.images import ImageRepository
from galerna.schedule.lease import Lease, Phase
from galerna.schedule.phases import Stretch
from galerna.schedule.slottable import SlotTable, whole


class LeaseOrder:
    """Leases sorted by (submit, arrival), each key unique: a list and its keys beside it,
    kept in order by bisection. What the ledger's queue and reserved list need (add,
    remove, ``in``, iteration in order, len) at a fraction of a general sorted
    container's Python-level cost per call, paid at every arrival, start and placement;
    their lengths stay small next to the cost of moving a list's pointers."""

    __slots__ = ("_keys", "_leases")

    def __init__(self) -> None:
        self._keys: list[tuple[float, int]] = []
        self._leases: list[Lease] = []

    def add(self, lease: Lease) -> None:
        key = (lease.req.submit, lease.seq)
        i = bisect_right(self._keys, key)
        self._keys.insert(i, key)
        self._leases.insert(i, lease)

    def _index(self, lease: Lease) -> int:
        keys = self._keys
        key = (lease.req.submit, lease.seq)
        i = bisect_left(keys, key)
        if i < len(keys) and self._leases[i] is lease:
            return i
        return -1

    def remove(self, lease: Lease) -> None:
        i = self._index(lease)
        if i < 0:
            raise ValueError(f"lease {lease.req.id} is not in the list")
        del self._keys[i]
        del self._leases[i]

    def discard(self, lease: Lease) -> None:
        """Remove the lease if it is here."""
        i = self._index(lease)
        if i >= 0:
            del self._keys[i]
            del self._leases[i]

    def __contains__(self, lease: object) -> bool:
        return isinstance(lease, Lease) and self._index(lease) >= 0

    def __iter__(self) -> Iterator[Lease]:
        return iter(self._leases)

    def __len__(self) -> int:
        return len(self._leases)

    def __repr__(self) -> str:
        return f"LeaseOrder([{', '.join(L.req.id for L in self._leases)}])"


class Book:
    def __init__(self, slots: SlotTable, images: ImageRepository | None):
        self.slots = slots
        self.images = images
        self.leases: dict[str, Lease] = {}
        self.by_seq: dict[int, Lease] = {}
        self.live: set[Lease] = set()  # accepted, not yet in a final state
        self.queue = LeaseOrder()  # waiting without a reservation
        self.reserved = LeaseOrder()  # BE/deadline with a future reservation
        self.ar_starts = SortedList()  # where accepted ARs begin to hold capacity
        self.due = EventQueue(self.by_seq)
        # Host-intervals whose capacity was given back since the last compression.
        self.spans: list[tuple[int, float, float]] = []
        self.freed = False  # capacity was released early: compress
        self._whole: dict[tuple[float, ...], bool] = {}  # whole(v) per demand vector seen (a few shapes)
        self.changed = False  # something ended or arrived: run a queue round

    def add(self, lease: Lease) -> None:
        slots = self.slots
        if slots.whole:
            known = self._whole
            for v in lease.vecs:
                w = known.get(v)
                if w is None:
                    w = whole(v)
                    if len(known) < 4096:  # (a daemon's leases may ask for many sizes)
                        known[v] = w
                if not w:
                    slots.whole = False  # (see SlotTable.whole)
                    break
        self.leases[lease.id] = lease
        self.by_seq[lease.seq] = lease
        self.live.add(lease)

    def hold(self, lease: Lease, phases: list[Phase]) -> None:
        self.slots.hold_phases(phases, lease.vecs)
        images = self.images
        if images is not None:  # (only with images are there transfer phases)
            first = None  # the first holding phase: where the lease uses its image
            for p in phases:
                if p.transfer is not None:
                    images.hold(p.transfer, lease.req)
                if first is None and p.holds:
                    first = p
            if first is not None:
                images.use(lease.req, first.hosts, first.start)

    def release(self, lease: Lease, from_t: float, track: bool = True, trial: bool = False,
                tidy: bool = True) -> list[Stretch]:
        """Give back what the lease's planned phases hold from ``from_t`` on; returns
        those (start, end, hosts) intervals.

        A ``trial`` release only touches the slot table, whose journal undoes it.
        ``tidy=False`` leaves the slot table's breakpoints for a likely re-hold.
        """
        phases = lease.phases
        if self.images is not None and not trial:  # (only with images are there transfer phases)
            for p in phases:
                if p.transfer is not None and not p.started:
                    self.images.drop(p.transfer)
        given = self.slots.release_phases(phases, from_t, lease.vecs, tidy)
        if track:
            spans = self.spans
            for s, end, hosts in given:
                for h in set(hosts):
                    spans.append((h, s, end))
        return given

    def adopt(self, lease: Lease, phases: list[Phase]) -> None:
        """The lease's plan is now ``phases``: held, and its next instant queued."""
        self.hold(lease, phases)
        lease.phases = phases
        lease.version += 1
        self.due.push(lease)

    def replanned(self, lease: Lease) -> None:
        """The lease's phases were edited in place: its queued instant is stale."""
        lease.version += 1
        self.due.push(lease)

    def finish(self, lease: Lease, state: LeaseState) -> None:
        lease.to(state)
        self.live.discard(lease)
        self.slots.forget(lease.id)
        if lease.type is LeaseType.AR and lease.ar_start is not None:
            self.ar_starts.discard(lease.ar_start)
            lease.ar_start = None
        if self.images is not None:
            self.images.unuse(lease.req, lease.hosts or ())

    def unlist(self, lease: Lease) -> None:
        self.queue.discard(lease)
        self.reserved.discard(lease)

    def freed_span(self, host: int, start: float, end: float) -> None:
        """Capacity on ``host`` over [start, end) came back: compress, then run a round."""
        self.spans.append((host, start, end))
        self.freed = True

    def waiting(self) -> int:
        return len(self.queue) + len(self.reserved)
