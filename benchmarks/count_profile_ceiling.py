"""How fast conservative backfilling could be on a whole-node count profile.

Galerna plans every reservation on named hosts (one slot-table column per
host). On a site whose hosts are identical and whose VMs each fill a host,
the same policy only needs one number per instant — how many hosts are free —
if hosts are bound when a lease starts rather than when it is planned. This
script measures that alternative plan model's ceiling on benchmark (b) of
``simulator_throughput.py`` (Blue Horizon 30 days, submit times x 0.35,
conservative backfilling, premature ends compressed): the scheduling
arithmetic alone, in plain Python, with no lease states, events or output.

It is a measurement, not a scheduler: the figures bound what the simulator
could reach with that plan model in CPython. It checks its own schedule (never
more hosts busy than the site has, no lease starting before it is submitted
or after its first reservation) so the figures are of a valid schedule.

Usage: python benchmarks/count_profile_ceiling.py [--factor 0.35] [--mode filtered|naive]
  naive:    at every premature end, release and re-plan every reservation in queue order
  filtered: re-plan only a reservation that can start earlier — free hosts just before its
            start, or a long enough run of them before it (an exact test, same schedule)
"""
from __future__ import annotations

import argparse
import heapq
import time
from bisect import bisect_left, bisect_right
from math import inf
from pathlib import Path

from galerna.readers import load_workload

TRACES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "haizea-traces" / "blue"
NODES = 144
EPS = 1e-6  # times are floats: a window that fits to the last ulp fits
END, START, SUBMIT = 0, 1, 2  # at one instant: ends free hosts before starts and submits use them


class CountProfile:
    """Free hosts over time: ``free[i]`` on [times[i], times[i+1]), the last to infinity."""

    def __init__(self, hosts: int):
        self.times = [0.0]
        self.free = [hosts]

    def _split(self, t: float) -> int:
        times = self.times
        i = bisect_right(times, t) - 1
        if times[i] == t:
            return i
        times.insert(i + 1, t)
        self.free.insert(i + 1, self.free[i])
        return i + 1

    def add(self, a: float, b: float, k: int) -> None:
        """``k`` more free hosts over [a, b) (negative: a reservation)."""
        i, j = self._split(a), self._split(b)
        times, free = self.times, self.free
        for x in range(i, j):
            free[x] += k
        if j < len(times) and free[j] == free[j - 1]:
            del times[j], free[j]
        if i > 0 and free[i] == free[i - 1]:
            del times[i], free[i]

    def prune(self, now: float) -> None:
        i = bisect_right(self.times, now) - 1
        if i > 0:
            del self.times[:i], self.free[:i]

    def earliest(self, k: int, length: float, t0: float) -> float:
        """Earliest start from ``t0`` with ``k`` hosts free for ``length``."""
        times, free = self.times, self.free
        n = len(times)
        i = max(bisect_right(times, t0) - 1, 0)
        start = t0
        while True:
            if free[i] < k:
                i += 1
                start = times[i]  # the last segment has every host free
                continue
            if (times[i + 1] if i + 1 < n else inf) - start >= length - EPS:
                return start
            i += 1

    def could_move(self, k: int, length: float, held_from: float, now: float) -> bool:
        """Whether a lease holding ``k`` hosts from ``held_from`` could start earlier."""
        i = bisect_left(self.times, held_from) - 1
        if i >= 0 and self.free[i] >= k:
            return True  # free right up to its slot: it can slide into that run
        return self.earliest(k, length, now) < held_from  # or fit wholly before it


def simulate(jobs: list[tuple[float, int, float, float]], naive: bool) -> dict:
    profile = CountProfile(NODES)
    events = [(sub, SUBMIT, j) for j, (sub, _, _, _) in enumerate(jobs)]
    heapq.heapify(events)
    start: dict[int, float] = {}  # planned start of each reserved lease
    first: dict[int, float] = {}  # its first reservation: it must never start later
    reserved: dict[int, None] = {}  # in queue order
    planned_end: dict[int, float] = {}
    ran: list[tuple[float, float, int, int]] = []
    replans = moves = 0
    while events:
        now, kind, j = heapq.heappop(events)
        _, k, length, real = jobs[j]
        if kind == SUBMIT:
            s = profile.earliest(k, length, now)
            profile.add(s, s + length, -k)
            start[j] = first[j] = s
            reserved[j] = None
            heapq.heappush(events, (s, START, j))
        elif kind == START:
            if start.get(j) != now:
                continue  # it moved earlier since this event was queued
            del start[j], reserved[j]
            planned_end[j] = now + length
            ran.append((now, now + real, k, j))
            heapq.heappush(events, (now + real, END, j))
        else:
            end = planned_end.pop(j)
            if end <= now:
                continue
            profile.add(now, end, k)
            profile.prune(now)
            for q in list(reserved):
                held_from = start[q]
                if held_from <= now:
                    continue
                _, kq, lq, _ = jobs[q]
                if not naive and not profile.could_move(kq, lq, held_from, now):
                    continue
                replans += 1
                profile.add(held_from, held_from + lq, kq)
                s = profile.earliest(kq, lq, now)
                profile.add(s, s + lq, -kq)
                if s < held_from:
                    moves += 1
                    start[q] = s
                    heapq.heappush(events, (s, START, q))
    check(jobs, ran, first)
    waits = [s - jobs[j][0] for s, _, _, j in ran]
    return {"replans": replans, "moves": moves, "mean_wait": sum(waits) / len(waits),
            "last_end": max(e for _, e, _, _ in ran), "starts": sorted((j, s) for s, _, _, j in ran)}


def check(jobs, ran, first) -> None:
    assert len(ran) == len(jobs), "every lease runs"
    busy, steps = 0, sorted([(e, -k) for _, e, k, _ in ran] + [(s, k) for s, _, k, _ in ran])
    for _, dk in steps:  # ends sort before starts at one instant
        busy += dk
        assert busy <= NODES, "more hosts busy than the site has"
    for s, _, _, j in ran:
        assert jobs[j][0] <= s <= first[j] + EPS, f"lease {j} starts at {s} outside [submit, first reservation]"


def blue_jobs(factor: float) -> list[tuple[float, int, float, float]]:
    """(submit, hosts, requested length, real length) of every lease of the trace."""
    trace = load_workload(TRACES / "30days.swf")
    return [(r.submit * factor, r.n_nodes, r.duration, min(r.real_duration or r.duration, r.duration))
            for r in trace.requests]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--factor", type=float, default=0.35, help="multiply every submit time by this")
    ap.add_argument("--mode", choices=["filtered", "naive"], default="filtered")
    args = ap.parse_args()
    jobs = blue_jobs(args.factor)
    t0 = time.perf_counter()
    got = simulate(jobs, naive=args.mode == "naive")
    wall = time.perf_counter() - t0
    print(f"count profile, submit x {args.factor}, {args.mode}: {len(jobs)} leases {wall:.2f} s "
          f"{len(jobs) / wall:.0f} leases/s  re-plans {got['replans']}  moves {got['moves']}  "
          f"mean wait {got['mean_wait']:.0f} s  last end {got['last_end']:.0f} s  (schedule checked)")


if __name__ == "__main__":
    main()
