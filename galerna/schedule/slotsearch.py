"""Questions about unbroken stretches on given hosts, asked of the slot table.

Mixed into :class:`~galerna.schedule.slottable.SlotTable`, whose grid
(``_grid``, ``times``, ``times_array``) and per-host timelines (``hosts``) they
read and never change: the longest stretch one VM fits on a host, the earliest
start in place for a lease already holding a later slot, the earliest start on
enough of a set of hosts. Kept apart so that the table's storage and edits
(breakpoints, journal, pruning) read as one piece.
"""
from __future__ import annotations

from galerna.schedule.gridsearch import earliest_on_enough, in_place_start


class StretchSearches:
    def longest_run(
        self, host: int, a: float, b: float, demand: tuple[float, ...], mine: tuple[float, float] | None = None
    ) -> tuple[float, float]:
        """Of the intervals in which one ``demand`` fits on ``host`` without a break,
        the longest one that overlaps [a, b): its (start, end), or (a, a) if none.

        ``mine`` is an interval the asking lease itself holds on this host: there
        one of its VMs fits by definition, so it counts as free.
        """
        return self.hosts[host].longest_run(a, b, demand, mine)  # compiled: timeline.pyx

    def earliest_in_place(
        self, need: dict[int, tuple[float, ...]], length: float, earliest: float, before: float,
        key: object = None,
    ) -> float | None:
        """Earliest start in [earliest, before) at which ``need`` (demand per host) fits
        on those very hosts for ``length``, for an asker that already holds ``need``
        there over [before, before + length): a window starting earlier reaches into
        that slot, so only the segments before ``before`` are looked at, and a stretch
        running up to ``before`` is long enough. Exact, for all starts at once.

        With a ``key`` (the asker), a host found blocking is remembered and asked
        first next time; while its timeline is unchanged, the same asker (same
        ``before``, no earlier ``earliest``) is refused at once. A suspended lease
        spanning many hosts is asked after every premature end on any of them.
        """
        order = None
        if key is not None:
            memo = self._blocked.get(key)
            if memo is not None and memo[3] == before and memo[4] == length and need.get(memo[0]) == memo[5]:
                h = memo[0]
                if earliest >= memo[2] and self.hosts[h].version == memo[1]:
                    return None
                order = [h] + [x for x in need if x != h]  # the host that blocked last time likely still does
        if order is None:
            order = list(need)
        timelines = self.hosts
        # One host's share walked on its own timeline (compiled: timeline.pyx): a stretch that
        # fits its need and runs up to ``before``, or one at least ``length`` long before it.
        for h in order if len(need) <= 4 else order[:1]:  # over more hosts, the grid question is cheaper
            if not timelines[h].may_fit_in_place(need[h], length, earliest, before):
                if key is not None:
                    self._blocked[key] = (h, timelines[h].version, earliest, before, length, need[h])
                return None
        # compiled (gridsearch.pyx): the grid's rows before ``before`` on those hosts, one call
        return in_place_start(self._grid, self.times_array(), self.times, list(need), list(need.values()),
                              earliest, before, length)

    def earliest_on_enough(self, hosts: list[int], need: tuple[float, ...], count: int, length: float,
                           earliest: float, before: float) -> float | None:
        """Earliest start in [earliest, before) at which at least ``count`` of ``hosts``
        each have ``need`` free for ``length``, or up to ``before`` (past which the
        asker does not look). Exact, for all starts at once: the earliest such start
        is always where a segment begins. Compiled (``gridsearch.pyx``): one call, no numpy temporaries."""
        return earliest_on_enough(self._grid, self.times_array(), hosts, need, count, length, earliest, before)

    def forget(self, key: object) -> None:
        """Drop what :meth:`earliest_in_place` remembers about ``key``."""
        self._blocked.pop(key, None)
