"""The embedded default workload: deterministic, small, and with every lease type.

A day on an 8-host site: best-effort batch work arriving through the day, a
few advance reservations booked hours ahead, immediate requests and deadline
requests. Generated from a fixed seed, so every run of `galerna simulate`
without a trace gives the same schedule.
"""
from __future__ import annotations

import random

from galerna.model.lease import DiskImage, LeaseRequest, LeaseType
from galerna.model.site import Site

SEED = 2008
HOSTS = 8
HOST_CPU = 2.0
HOST_MEMORY = 4096.0


def default_site() -> Site:
    return Site.uniform(HOSTS, cpu=HOST_CPU, memory=HOST_MEMORY, prefix="node")


def default_workload(n: int = 160, seed: int = SEED) -> list[LeaseRequest]:
    rng = random.Random(seed)
    out: list[LeaseRequest] = []
    t = 0.0
    images = [DiskImage(f"img-{k}", size) for k, size in enumerate((1024.0, 2048.0, 4096.0))]
    for i in range(1, n + 1):
        t += rng.expovariate(1 / 480.0)  # a request every 8 minutes on average
        kind = rng.choices([LeaseType.BE, LeaseType.AR, LeaseType.IM, LeaseType.DEADLINE], [60, 18, 10, 12])[0]
        nodes = rng.choice([1, 1, 1, 2, 2, 4])
        cpu = rng.choice([0.5, 1.0, 1.0, 2.0])
        memory = rng.choice([512.0, 1024.0, 1024.0, 2048.0])
        duration = float(rng.randrange(10, 180) * 60)
        real = duration if rng.random() < 0.4 else round(duration * rng.uniform(0.3, 1.0))
        start = deadline = None
        if kind is LeaseType.AR:
            start = float(round(t + rng.randrange(1, 12) * 1800))
        elif kind is LeaseType.DEADLINE:
            start = float(round(t + rng.randrange(0, 4) * 600))
            deadline = start + duration * rng.uniform(1.5, 4.0)
        out.append(
            LeaseRequest(
                id=str(i),
                type=kind,
                submit=float(round(t)),
                duration=duration,
                real_duration=float(real),
                nodes=tuple({"cpu": cpu, "memory": memory} for _ in range(nodes)),
                start=start,
                deadline=deadline,
                preemptible=kind in (LeaseType.BE, LeaseType.DEADLINE),
                image=rng.choice(images),
            )
        )
    return out
