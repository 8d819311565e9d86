"""The daemon at scale (issue 13): its ``Service`` in this process, real SQLite in a temporary directory, plan only.

Enactment is off (``[daemon] enact = false``): the daemon plans and journals every lease as it would with
hypervisors, and no VM is started. The libvirt test driver cannot hold thousands of hosts here, and what is
measured is the scheduling thread's work: applying operations, the core's queue round, the batch's commit.
The daemon's clock is frozen at one instant, so nothing comes due by itself while a part runs.

1. ``live``: server CPU time per submit (``time.process_time`` of the whole process, so the scheduler thread,
   SQLite and the submitting thread all count) while the daemon holds N live leases, for each N of ``--live``
   (default 5,000 and 50,000): leases are submitted in bursts up to N, then ``--probe`` more are timed (in a burst,
   as an API server under load sends them, and one at a time, each its own batch). The leases are small and long,
   so all of them run at once on 64 hosts of 8 cores.
2. ``scale``: ``--hosts`` hosts (default 10,000) each filled by one running lease, then ``--queued`` best-effort
   leases (default 100,000) of one whole host each, conservative backfilling, so every one waits with a
   reservation. Prints the fill rate as it goes, then the time (wall and CPU) per single submit and per queue round
   after an early end (a running lease finishes before its planned end: compression moves reservations earlier,
   the round runs, the batch commits), and the peak resident memory (``ru_maxrss``).

A part that would exceed ``--budget`` seconds stops filling and prints where it stopped, the fill rate it measured
and the time the full size would take at that rate, so an infeasible size is never silently shrunk.

    python benchmarks/daemon_scale.py [--quick] [--only live|scale] [--live 5000,50000] [--hosts 10000]
                                      [--queued 100000] [--budget 3600]
"""
from __future__ import annotations

import argparse
import random
import resource
import statistics
import tempfile
import time
from pathlib import Path

T0 = 1_800_000_000.0  # the frozen clock (Unix seconds)
DAY = 86400.0
BURST = 2000  # submissions in flight at once while filling


def make_service(tmp: Path, nodes: int, cpu: float, memory: float):
    from galerna.config.load import validate
    from galerna.daemon.service import Service
    from galerna.daemon.settings import DaemonConfig, Settings
    from galerna.store.db import Store

    cfg = validate({"site": {"nodes": nodes, "cpu": cpu, "memory": memory},
                    "scheduling": {"backfilling": "conservative"}}, tmp / "bench.toml")
    st = Settings(daemon=DaemonConfig(enact=False, db=f"sqlite:///{tmp / 'g.db'}", data_dir=str(tmp)), config=cfg)
    svc = Service(Store(st.daemon.db), st, clock=lambda: T0)
    svc.start()
    return svc


def be(duration: float, cpu: float, memory: float) -> dict:
    return {"type": "be", "duration": duration, "nodes": [{"cpu": cpu, "memory": memory}], "start": None,
            "deadline": None, "preemptible": True, "name": None, "image": None, "tenant": "bench"}


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Filler:
    """Submits leases in bursts and keeps the rate, so a fill that runs out of budget can say how long the rest
    would take."""

    def __init__(self, svc, budget: float, label: str):
        self.svc, self.budget, self.label = svc, budget, label
        self.done, self.wall, self.cpu = 0, 0.0, 0.0

    def fill(self, target: int, make, report_every: int) -> bool:
        """Submit until ``target`` in total; False when the budget ran out first."""
        next_report = self.done + report_every
        while self.done < target:
            n = min(BURST, target - self.done)
            w0, c0 = time.perf_counter(), time.process_time()
            futures = [self.svc.submit(**make(self.done + i)) for i in range(n)]
            for f in futures:
                f.result(3600)
            dw, dc = time.perf_counter() - w0, time.process_time() - c0
            self.done, self.wall, self.cpu = self.done + n, self.wall + dw, self.cpu + dc
            due = self.done >= next_report
            if due:
                next_report += report_every
            if due or self.done >= target or dw > 60:  # a slow fill reports every burst
                print(f"  {self.label}: {self.done:>7} submitted, {self.wall:8.1f} s, last burst {dc / n * 1e3:7.2f} "
                      f"ms CPU per submit, {self.svc.counts()[0]} live, peak RSS {rss_mb():.0f} MB", flush=True)
            if self.wall > self.budget and self.done < target:
                left = (target - self.done) * dw / n
                print(f"  STOPPED: the budget ({self.budget:.0f} s) ran out at {self.done} of {target}; at the last "
                      f"burst's rate the rest would take about {left:.0f} s more ({left / 3600:.1f} h)", flush=True)
                return False
        return True


def probe(svc, count: int, make) -> tuple[float, float, float]:
    """(CPU per submit in a burst, median wall and CPU per submit one at a time), milliseconds."""
    c0 = time.process_time()
    futures = [svc.submit(**make(i)) for i in range(count)]
    for f in futures:
        f.result(3600)
    burst_cpu = (time.process_time() - c0) / count
    walls, cpus = [], []
    for i in range(max(10, count // 10)):
        w0, c0 = time.perf_counter(), time.process_time()
        svc.submit(**make(count + i)).result(3600)
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return burst_cpu * 1e3, statistics.median(walls) * 1e3, statistics.median(cpus) * 1e3


def part_live(levels: list[int], count: int, budget: float) -> None:
    print(f"live: server CPU per submit at {', '.join(map(str, levels))} live leases (64 hosts x 8 cores, "
          f"each lease 0.01 core for 30 days; probe: {count} in a burst, then {max(10, count // 10)} one at a time)")
    small = lambda i: be(30 * DAY, 0.01, 1)  # noqa: E731
    with tempfile.TemporaryDirectory(prefix="galerna-scale-") as tmp:
        svc = make_service(Path(tmp), 64, 8, 16384)
        try:
            filler = Filler(svc, budget, "fill")
            for level in levels:
                if not filler.fill(level, small, max(BURST, level // 5)):
                    return
                live = svc.counts()[0]
                burst, wall, cpu = probe(svc, count, small)
                filler.done = svc.counts()[0]
                print(f"  at {live:>6} live leases: {burst:6.2f} ms CPU per submit in a burst; one at a time "
                      f"{wall:6.2f} ms wall, {cpu:6.2f} ms CPU (median)", flush=True)
        finally:
            svc.stop()
            svc.store.close()


def part_scale(hosts: int, queued: int, budget: float, rounds: int) -> None:
    print(f"scale: {hosts} hosts, each running one lease, then {queued} queued best-effort leases of a whole host "
          f"(conservative backfilling: each waits with a reservation)")
    rng = random.Random(13)
    whole = lambda i: be(rng.choice((1, 2, 3, 4, 6, 8)) * 3600.0, 8, 16384)  # noqa: E731
    with tempfile.TemporaryDirectory(prefix="galerna-scale-") as tmp:
        w0 = time.perf_counter()
        svc = make_service(Path(tmp), hosts, 8, 16384)
        print(f"  start-up with {hosts} hosts: {time.perf_counter() - w0:.1f} s, peak RSS {rss_mb():.0f} MB")
        try:
            running = Filler(svc, budget, "running")
            if not running.fill(hosts, lambda i: be(DAY, 8, 16384), max(BURST, hosts // 2)):
                return
            first_waiting = svc.counts()[0]
            waiting = Filler(svc, budget, "queued")
            complete = waiting.fill(queued, whole, max(BURST, queued // 10))
            core = svc.core
            print(f"  waiting: {core.waiting()} leases; fill {waiting.wall:.0f} s wall, "
                  f"{waiting.cpu / max(1, waiting.done) * 1e3:.2f} ms CPU per submit on average")
            walls, cpus = [], []
            for _ in range(20):
                w0, c0 = time.perf_counter(), time.process_time()
                svc.submit(**whole(0)).result(3600)
                walls.append(time.perf_counter() - w0)
                cpus.append(time.process_time() - c0)
            print(f"  one submit with {core.waiting()} waiting: {statistics.median(walls) * 1e3:.1f} ms wall, "
                  f"{statistics.median(cpus) * 1e3:.1f} ms CPU (median of 20)", flush=True)
            running_ids = [lid for lid, lease in core.leases.items()
                           if not lease.state.final and int(lid) <= first_waiting][:rounds]
            walls, cpus, moved = [], [], []
            for lid in running_ids:
                before = core.stats.moves
                w0, c0 = time.perf_counter(), time.process_time()
                svc.finished(lid).result(3600)
                walls.append(time.perf_counter() - w0)
                cpus.append(time.process_time() - c0)
                moved.append(core.stats.moves - before)
            if walls:
                print(f"  queue round after an early end (compression, round, commit): median "
                      f"{statistics.median(walls):.2f} s wall, {statistics.median(cpus):.2f} s CPU over {len(walls)} "
                      f"ends; reservations moved per end: {', '.join(map(str, moved))}")
            print(f"  peak RSS {rss_mb():.0f} MB{'' if complete else ' (at the size reached)'}")
        finally:
            svc.stop()
            svc.store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run of a few seconds)")
    ap.add_argument("--only", choices=("live", "scale"))
    ap.add_argument("--live", default="5000,50000", help="live-lease levels for part 1, comma-separated")
    ap.add_argument("--probe", type=int, default=500, help="submits timed at each level of part 1")
    ap.add_argument("--hosts", type=int, default=10_000)
    ap.add_argument("--queued", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=5, help="early ends timed in part 2")
    ap.add_argument("--budget", type=float, default=3600.0, help="seconds of filling per part before it stops")
    a = ap.parse_args()
    levels = [int(x) for x in a.live.split(",")]
    if a.quick:
        levels, a.probe, a.hosts, a.queued, a.rounds = [200, 1000], 100, 100, 1000, 2

    import galerna

    print(f"galerna from {Path(galerna.__file__).parent}")
    if a.only in (None, "live"):
        part_live(levels, a.probe, a.budget)
    if a.only in (None, "scale"):
        part_scale(a.hosts, a.queued, a.budget, a.rounds)


if __name__ == "__main__":
    main()
