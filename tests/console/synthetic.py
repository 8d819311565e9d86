"""A synthetic `galerna simulate --out` directory: every host's row full for a month (the benchmark's worst case for
drawing, and the tests' month-long run)."""
from __future__ import annotations

import csv
import random
from pathlib import Path


def synthetic(out: Path, n: int, hosts: int = 144, days: int = 30, seed: int = 1) -> None:
    """An output directory with about ``n`` allocations: back-to-back leases on every host, a few suspended and
    resumed, so each host's row is full for the whole month (the worst case for drawing)."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    horizon = days * 86400.0
    per_host = n // hosts
    mean = horizon / per_host
    leases, allocs = [], []
    for h in range(hosts):
        t = rng.uniform(0, mean)
        while len(allocs) < (h + 1) * per_host and t < horizon:
            lid = len(leases) + 1
            d = rng.expovariate(1 / mean) * 0.9 + 60
            kind = rng.choice(["be", "be", "be", "ar", "im", "deadline"])
            leases.append([lid, kind, max(0, t - 600), "", "", d, d, 1, 1, 1024, "true", "done", t, t + d, 600, "",
                           0, f"node{h + 1}"])
            if rng.random() < 0.05 and d > 1200:
                half = d / 2
                allocs += [[lid, 0, f"node{h + 1}", t, t + half, "run"], [lid, 0, f"node{h + 1}", t + half, t + half + 60, "suspend"],
                           [lid, 0, f"node{h + 1}", t + half + 60, t + half + 120, "resume"],
                           [lid, 0, f"node{h + 1}", t + half + 120, t + d + 120, "run"]]
                d += 120
            else:
                allocs.append([lid, 0, f"node{h + 1}", t, t + d, "run"])
            t += d + rng.uniform(0, mean * 0.2)
    with open(out / "hosts.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["host", "cpu", "memory"])
        w.writerows([f"node{h + 1}", 1, 1024] for h in range(hosts))
    with open(out / "leases.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["lease_id", "type", "submit", "start_requested", "deadline", "duration", "real_duration", "nodes",
                    "cpu", "memory", "preemptible", "state", "start", "end", "wait", "bounded_slowdown",
                    "suspensions", "hosts"])
        w.writerows(leases)
    with open(out / "allocations.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["lease_id", "node", "host", "start", "end", "activity", "cpu", "memory"])
        w.writerows([*a, 1, 1024] for a in allocs)
