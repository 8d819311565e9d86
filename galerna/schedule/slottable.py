"""The slot table: availability of every host over time, as one dense grid.

Rows are the segments between the site's breakpoints (every instant at which
some host's free capacity changes), columns the hosts, and each cell the free
amount of each resource: a ``(segments, hosts, resources)`` numpy array, with
the site-wide total beside it, row for row. The questions the scheduler asks
most — "over [start, end), how much is free on every host?" and "where does one
VM of this size fit without a break?" — are then one reduction over a slice,
for all hosts at once, instead of a Python walk over per-host timelines (which
are kept too, for questions about one host, where a Python walk over its few
breakpoints beats a numpy call). Past segments are pruned by moving the grid's
first row in its buffer, and a breakpoint is inserted by shifting the shorter
side, so a daemon holding thousands of leases that start now and end an hour
out (every one a breakpoint) pays little per edit; with per-lease image
transfers the schedule spreads out and those shifts are still what grows
(py-spy on the study's vm-transfer profile). Every change can be journaled and
undone (trial preemptions). The questions about unbroken stretches on given
hosts are in ``slotsearch.py``.
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from math import inf
from typing import Iterable

import numpy as np

from galerna.model.site import Site
from galerna.schedule.gridedit import apply, apply_phases, edit, lost_minima, tidy_at
from galerna.schedule.gridsearch import total_fits
from galerna.schedule.slotsearch import StretchSearches
from galerna.schedule.timeline import Timeline, lengths, prune_all


def demand_per_host(placed: Iterable[tuple[int, tuple[float, ...]]]) -> dict[int, list[float]]:
    """What VMs placed as (host, demand) add up to on each host."""
    per_host: dict[int, list[float]] = {}
    for h, v in placed:
        acc = per_host.get(h)
        if acc is None:
            per_host[h] = list(v)
        else:
            for r, x in enumerate(v):
                acc[r] += x
    return per_host


def whole(amounts: Iterable[float]) -> bool:
    """Whether each amount is a whole number small enough that sums and differences of
    such amounts are exact in doubles."""
    return all(float(x).is_integer() and abs(x) < 2.0 ** 52 for x in amounts)


class SlotTable(StretchSearches):
    def __init__(self, site: Site, origin: float = 0.0):
        self.site = site
        self.caps = [site.capacity(i) for i in range(len(site))]
        self.nhosts = len(self.caps)
        self.nres = len(site.resource_types)
        self.cap = np.array(self.caps, dtype=float).reshape(self.nhosts, self.nres)
        self.total_capacity = tuple(float(x) for x in self.cap.sum(axis=0))
        # Whether every amount held so far is a whole number (exact in a double below
        # 2**52, so that x + d - d == x): Book.add clears it for a lease that is not.
        # Compression then knows that a futile re-plan leaves every cell as it was.
        self.whole = all(whole(c) for c in self.caps)
        self.times: list[float] = [origin]
        # The grid lives in a larger buffer with room on both sides, from row
        # ``_lo``: pruning the past moves ``_lo`` instead of copying the grid, and a
        # breakpoint is inserted by shifting the shorter side (leases start near now
        # and end far out, so both ends of the grid get inserts).
        self._buf = np.empty((16, self.nhosts, self.nres))
        self._tbuf = np.empty((16, self.nres))  # site-wide free, same rows
        # The breakpoints as doubles, same rows, inf after the last: the compiled walks'
        # ``times_array`` is a view of it, kept up to date by every edit instead of a
        # new array per version (one per re-plan).
        self._xbuf = np.empty(17)
        self._lo = 0
        self._buf[0] = self.cap
        self._tbuf[0] = self.total_capacity
        self._xbuf[0], self._xbuf[1] = origin, inf
        self._views()
        self.n = 1
        # Per-host step functions too: walking one host's few breakpoints in Python
        # beats a numpy call when the question is about that host alone.
        self.hosts = [Timeline(c, origin) for c in self.caps]
        self.enabled = [True] * self.nhosts
        self.version = 0  # bumped by every edit: callers cache per version
        self._load: tuple[int, np.ndarray] | None = None
        self._times_view: tuple[int, np.ndarray] | None = None  # see times_array
        self._blocked: dict[object, tuple[int, int, float, float, float, tuple[float, ...]]] = {}  # see earliest_in_place
        # Per host and resource the least free over all live segments, for windows that
        # cover them all (a daemon's new leases outlast the ones it holds): columns an
        # edit touched are recomputed when next asked, not the whole grid.
        self._colmin = self.cap.copy()
        self._stale: set[int] = set()
        # (start, end, host indices, per-host demand rows, sign) for rollback
        self._journal: list | None = None

    # -------------------------------------------------------------- views
    @property
    def grid(self) -> np.ndarray:
        """Free capacity, ``(segments, hosts, resources)``; row k covers [times[k], times[k+1])."""
        return self._grid[: self.n]

    def _views(self) -> None:
        """Row 0 of ``_grid`` and ``_tot`` is the first live segment."""
        self._grid = self._buf[self._lo :]
        self._tot = self._tbuf[self._lo :]

    def total_free_at(self, t: float) -> tuple[float, ...]:
        """The whole site's free capacity at ``t``."""
        i, _ = self.rows(t, t)
        return tuple(float(x) for x in self._tot[i])

    def rows(self, start: float, end: float) -> tuple[int, int]:
        """Indices [i, j) of the segments that overlap [start, end) (at least one)."""
        times = self.times
        i = bisect_right(times, start) - 1
        if i < 0:
            i = 0
        j = bisect_left(times, end, i + 1)
        return i, max(j, i + 1)

    def host_free_at(self, host: int, t: float) -> tuple[float, ...]:
        i, _ = self.rows(t, t)
        return tuple(float(x) for x in self._grid[i, host])

    def next_change(self, t: float) -> float:
        """First breakpoint strictly after ``t`` (inf if none)."""
        i = bisect_right(self.times, t)
        return self.times[i] if i < len(self.times) else inf

    def load(self) -> np.ndarray:
        """Per host, the breakpoints on its own timeline from now on (a proxy for how
        many leases it carries)."""
        if self._load is None or self._load[0] != self.version:
            self._load = (self.version, lengths(self.hosts))  # compiled: timeline.pyx
        return self._load[1]

    # ------------------------------------------------------------------ edit
    # Every change is one compiled call (gridedit.apply, apply_phases): per-host
    # demand rows, the edit, and a journal entry (start, end, hosts, rows, sign) while
    # recording.
    def reserve(self, host: int, start: float, end: float, demand: tuple[float, ...]) -> None:
        apply(self, start, end, [(host, demand)], -1.0)

    def release(self, host: int, start: float, end: float, demand: tuple[float, ...]) -> None:
        apply(self, start, end, [(host, demand)], 1.0)

    def reserve_all(self, start: float, end: float, placed: list[tuple[int, tuple[float, ...]]]) -> None:
        """Reserve several VMs over one interval (one edit of the grid)."""
        apply(self, start, end, placed, -1.0)

    def release_all(self, start: float, end: float, placed: list[tuple[int, tuple[float, ...]]],
                    tidy: bool = True) -> None:
        """Give capacity back. ``tidy=False`` keeps the grid's breakpoints that would merge
        away: for a release that is likely undone at once (compression trying to move a
        lease that then stays), whose re-reserve then shifts no grid rows; :meth:`tidy`
        merges them. (The per-host timelines merge as always: their lengths are the
        hosts' load that ranks them, and their edits are cheap.)"""
        apply(self, start, end, placed, 1.0, tidy)

    def hold_phases(self, phases: list, vecs: tuple[tuple[float, ...], ...]) -> None:
        """Reserve what a lease's planned ``phases`` hold (``phases.stretches``), VM k of
        ``vecs`` on each phase's hosts[k] (compiled: gridedit.pyx)."""
        apply_phases(self, phases, vecs, -1.0, -inf)

    def release_phases(self, phases: list, from_t: float, vecs: tuple[tuple[float, ...], ...],
                       tidy: bool = True) -> list[tuple[float, float, tuple[int, ...]]]:
        """Give back what the ``phases`` hold from ``from_t`` on (``tidy`` as
        :meth:`release_all`); returns those (start, end, hosts) stretches."""
        return apply_phases(self, phases, vecs, 1.0, from_t, tidy, True)

    def _edit(self, start: float, end: float, hosts: list[int], delta: np.ndarray, sign: float,
              tidy: bool = True) -> None:
        """Split, add to the timelines, grid and totals, merge: one call (compiled: gridedit.pyx)."""
        edit(self, start, end, hosts, delta, sign, tidy)

    def tidy(self, start: float, end: float) -> None:
        """Merge away the grid's breakpoints at ``start`` and ``end`` where they no
        longer separate different segments (compiled: gridedit.pyx)."""
        tidy_at(self, start, end)

    def _regrow(self, need: int) -> None:
        """A new buffer with room for twice ``need`` rows, the grid in its middle."""
        size = max(16, 2 * need)
        lo = (size - need) // 2
        n, old = self.n, self._lo
        buf = np.empty((size, self.nhosts, self.nres))
        tbuf = np.empty((size, self.nres))
        xbuf = np.empty(size + 1)
        buf[lo : lo + n] = self._buf[old : old + n]
        tbuf[lo : lo + n] = self._tbuf[old : old + n]
        xbuf[lo : lo + n + 1] = self._xbuf[old : old + n + 1]
        self._buf, self._tbuf, self._xbuf, self._lo = buf, tbuf, xbuf, lo
        self._views()

    def begin(self) -> None:
        """Start recording changes so that :meth:`rollback` can undo them."""
        self._journal = []

    def rollback(self) -> None:
        journal, self._journal = self._journal or [], None
        for start, end, hosts, delta, sign in reversed(journal):
            self._edit(start, end, hosts, delta, -sign)

    def prune(self, now: float) -> None:
        """Forget segments that ended before ``now``."""
        i = bisect_right(self.times, now) - 1
        if i > 0:
            # A column's least value may leave with the dropped rows.
            self._stale.update(lost_minima(self._grid, self._colmin, i))  # compiled: gridedit.pyx
            self._lo += i
            self._views()
            del self.times[:i]
            self.n -= i
            self.version += 1
        prune_all(self.hosts, now)  # compiled: timeline.pyx

    # ----------------------------------------------------------------- query
    def total_fits(self, start: float, end: float, demand: tuple[float, ...]) -> float:
        """``start`` if the site as a whole has ``demand`` over [start, end), else
        the earliest instant after the run of blocking segments that stops it (a
        lower bound on any feasible start)."""
        return total_fits(self._tot, self.times, start, end, demand)  # compiled: gridsearch.pyx

    def window(self, start: float, end: float) -> np.ndarray:
        """Per host and resource, the least free over [start, end): ``(hosts, resources)``."""
        i, j = self.rows(start, end)
        if j - i == 1:
            return self._grid[i]
        if i == 0 and j == self.n and j > 16:
            if self._stale:
                g, cm = self._grid, self._colmin
                for h in self._stale:  # a strided view per column: no copy of the rows
                    cm[h] = g[:j, h].min(axis=0)
                self._stale.clear()
            return self._colmin
        return self._grid[i:j].min(axis=0)

    def times_array(self) -> np.ndarray:
        """The breakpoints as an array, with inf appended (the end of the last segment):
        a view of the table's own buffer, valid until its next edit (the same view while
        the version is: compression asks for it per candidate)."""
        got = self._times_view
        if got is not None and got[0] == self.version:
            return got[1]
        lo = self._lo
        view = self._xbuf[lo : lo + self.n + 1]
        self._times_view = (self.version, view)
        return view
