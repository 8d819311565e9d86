"""Simulator throughput on Blue Horizon, 30 days, 144 nodes (1 CPU, 1024 MB each).

(a) the trace + work_20-dur_3h-size_2medium.lwf, conservative backfilling, suspension on
    (target: under 3 s on a 2-core machine);
(b) the trace with every submit time multiplied by 0.35 — thousands queued at once —
    conservative backfilling (target: >= 5,000 leases/s).

Prints leases, wall seconds, leases per second and the largest queue for each, and the
core's counters (``LeaseScheduler.stats``): rounds, compression filter hits, re-plans, moves.
Usage: python benchmarks/simulator_throughput.py [--only a|b]
"""
from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from galerna.config.schema import Config
from galerna.readers import inject, load_workload
from galerna.sim.engine import Simulation

TRACES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "haizea-traces" / "blue"
SITE = {"nodes": 144, "cpu": 1, "memory": 1024}


def run(name: str, requests, cfg: Config, target: str) -> None:
    from galerna.sim.run import site_from_config

    sim = Simulation(site_from_config(cfg), cfg, requests)
    t0 = time.perf_counter()
    result = sim.run()
    wall = time.perf_counter() - t0
    n = len(requests)
    peak = max(q for _, q in result.queue)
    print(f"{name:<48} {n:>6} leases {wall:8.2f} s {n / wall:10.0f} leases/s  max queue {peak:>5}  ({target})")
    st = sim.core.stats  # what the core's passes did: where the time went
    print(f"{'':<48} {st.rounds} rounds placing {st.placed}; {st.compressions} compressions: {st.filter_hits} "
          f"reservations ruled out unsearched, {st.replans} re-planned, {st.moves} moved; {st.preemptions} preempted")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=["a", "b"])
    args = ap.parse_args()
    trace = load_workload(TRACES / "30days.swf")
    if args.only in (None, "a"):
        w = inject(trace, TRACES / "injected_leases" / "30days" / "work_20-dur_3h-size_2medium.lwf")
        cfg = Config.model_validate({"site": SITE, "scheduling": {"backfilling": "conservative", "suspension": "all"}})
        run("(a) 30 days + 20% ARs, conservative, suspend", w.requests, cfg, "target < 3 s")
    if args.only in (None, "b"):
        squeezed = [dataclasses.replace(r, submit=r.submit * 0.35) for r in trace.requests]
        cfg = Config.model_validate({"site": SITE, "scheduling": {"backfilling": "conservative"}})
        run("(b) 30 days, submit x 0.35, conservative", squeezed, cfg, "target >= 5000 leases/s")


if __name__ == "__main__":
    main()
