"""A plain EASY backfiller on node counts: the textbook reference Galerna's backfilling is compared with.

EASY (Lifka's Argonne scheduler): jobs start in submit order while they fit; the
head of the queue that does not fit gets a reservation at the *shadow time* (when
enough nodes will be free, by the running jobs' requested ends), and any later job
may start now if it fits on the free count and either ends (by its requested time)
before the shadow time or uses only the nodes the head will not need then. It knows
node counts only: no hosts, no boot, no suspension. Each job really ends after
min(run time, requested time), as in Galerna's simulator.

  python benchmarks/easy_backfill.py [TRACE.swf] [--nodes 144] [--cancelled drop|drop-unstarted]

prints the best-effort figures the rebind comparison uses (mean, p99 and longest
wait, last end). ``easy_schedule`` is imported by ``benchmarks/rebind_figures.py``.
"""
from __future__ import annotations

import argparse
import heapq
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BLUE = ROOT.parent / "shared" / "data" / "haizea-traces" / "blue"


@dataclass(frozen=True)
class Job:
    id: str
    submit: float
    nodes: int
    requested: float  # what the scheduler plans with
    real: float  # how long it really runs


@dataclass(frozen=True)
class Ran:
    job: Job
    start: float

    @property
    def wait(self) -> float:
        return self.start - self.job.submit

    @property
    def end(self) -> float:
        return self.start + self.job.real


def easy_schedule(jobs: list[Job], nodes: int) -> list[Ran]:
    """Every job's start under EASY backfilling on ``nodes`` identical nodes."""
    for j in jobs:
        if j.nodes > nodes:
            raise ValueError(f"job {j.id} needs {j.nodes} nodes, the site has {nodes}")
    arrivals = sorted(jobs, key=lambda j: j.submit)
    ends: list[tuple[float, int, int]] = []  # (real end, seq, nodes) of running jobs
    running: dict[int, tuple[float, int]] = {}  # seq -> (requested end, nodes)
    queue: list[Job] = []
    out: list[Ran] = []
    free, i, seq = nodes, 0, 0
    while i < len(arrivals) or ends or queue:
        t = min(arrivals[i].submit if i < len(arrivals) else float("inf"), ends[0][0] if ends else float("inf"))
        while ends and ends[0][0] <= t:
            _, s, n = heapq.heappop(ends)
            free += n
            del running[s]
        while i < len(arrivals) and arrivals[i].submit <= t:
            queue.append(arrivals[i])
            i += 1

        def start(job: Job) -> None:
            nonlocal free, seq
            free -= job.nodes
            running[seq] = (t + job.requested, job.nodes)
            heapq.heappush(ends, (t + job.real, seq, job.nodes))
            seq += 1
            out.append(Ran(job, t))

        while queue and queue[0].nodes <= free:
            start(queue.pop(0))
        if not queue:
            continue
        head = queue[0]
        # The shadow time: when, by requested ends, enough nodes are free for the head.
        avail, shadow = free, t
        for end, n in sorted(running.values()):
            if avail >= head.nodes:
                break
            avail += n
            shadow = end
        extra = avail - head.nodes  # nodes the head leaves free at its shadow time
        for job in list(queue[1:]):
            if job.nodes > free:
                continue
            if t + job.requested <= shadow:
                queue.remove(job)
                start(job)
            elif job.nodes <= extra:
                extra -= job.nodes
                queue.remove(job)
                start(job)
    return out


def jobs_of(trace: Path, cancelled: str = "drop") -> list[Job]:
    """The trace's jobs as Galerna reads them, one node per SWF node; ``cancelled`` is ``trace.swf_cancelled``
    ("drop", the rule issue 14's comparison used, or "drop-unstarted")."""
    from galerna.config.schema import TraceConfig
    from galerna.readers import load_workload

    reqs = load_workload(trace, TraceConfig(swf_cancelled=cancelled)).requests
    return [Job(r.id, r.submit, len(r.nodes), r.duration, min(r.runtime, r.duration)) for r in reqs]


def figures(waits: list[float], ends: list[float]) -> dict[str, float]:
    """Mean, 99th percentile (nearest rank) and longest wait, and the last end."""
    w = sorted(waits)
    p99 = w[min(len(w) - 1, max(0, -(-99 * len(w) // 100) - 1))] if w else 0.0
    return {"mean_wait": sum(w) / len(w) if w else 0.0, "p99_wait": p99, "max_wait": w[-1] if w else 0.0,
            "last_end": max(ends, default=0.0)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("trace", nargs="?", type=Path, default=BLUE / "30days.swf")
    ap.add_argument("--nodes", type=int, default=144)
    ap.add_argument("--cancelled", choices=["drop", "drop-unstarted"], default="drop")
    args = ap.parse_args()
    ran = easy_schedule(jobs_of(args.trace, args.cancelled), args.nodes)
    f = figures([r.wait for r in ran], [r.end for r in ran])
    print(f"EASY on {args.nodes} nodes, {len(ran)} jobs: mean wait {f['mean_wait']:,.0f} s, p99 {f['p99_wait']:,.0f} s,"
          f" longest {f['max_wait']:,.0f} s, last end {f['last_end']:,.0f} s")


if __name__ == "__main__":
    main()
