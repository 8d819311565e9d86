"""Throughput of the concurrency gate: deploy N VMs on H libvirt test-driver hosts.

Every deploy gets an injected latency (a hypervisor that takes that long to
deploy), then makes its real libvirt calls. For each per-host limit k the
ideal throughput is min(k, N/H) * H / latency operations per second (for
"unlimited", all N at once: N / latency); the script prints the measured
figure, its share of the ideal, and the process CPU time per deploy (all
threads, libvirt included), which is what the ideal leaves out.

    python benchmarks/gate_throughput.py [--vms 64] [--hosts 4] [--latency 0.05,0.5,1.5] [--limits 1,4,0]
                                         [--rounds 3] [--driver test|simulated]

The clock runs from the first submit to the last result; host set-up, thread
start-up and teardown are outside it. A limit of 0 means unlimited. Exits
non-zero if a run reaches less than --target (default 90 %) of the ideal.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from galerna.enact.config import EnactmentConfig, GateConfig, RetryConfig, default_test_hosts  # noqa: E402
from galerna.enact.driver import OperationKind as Op, VMSpec  # noqa: E402
from galerna.enact.executor import Action, Executor  # noqa: E402
from galerna.enact.faults import FaultyDriver  # noqa: E402
from galerna.enact.libvirt import LibvirtDriver  # noqa: E402
from galerna.enact.simulated import SimulatedDriver  # noqa: E402


def run_once(n: int, h: int, latency: float, limit: int, round_: int, kind: str = "test") -> tuple[float, int, float]:
    """(deploys per second, most deploys seen at once on one host, CPU seconds per deploy)."""
    with tempfile.TemporaryDirectory() as tmp:
        if kind == "test":
            uris = default_test_hosts(h, tmp)
            drivers = {u: FaultyDriver(LibvirtDriver(u, Path(tmp) / "state" / str(i))) for i, u in enumerate(uris)}
        else:
            uris = [f"sim://host{i}" for i in range(h)]
            drivers = {u: FaultyDriver(SimulatedDriver(u, cpus=n, memory_mb=64 * n, state_dir=tmp)) for u in uris}
        for d in drivers.values():
            d.latency(latency, Op.DEPLOY)
            d.inner.alive()  # open connections before timing
        cfg = EnactmentConfig(data_dir=tmp, gate=GateConfig(per_host=limit), retry=RetryConfig(attempts=1),
                              workers=max(8, n))
        ex = Executor(drivers, config=cfg)
        ex.prestart()  # a daemon's executor is long-lived: do not time thread creation
        actions = [Action.deploy(VMSpec(f"galerna-b{round_}x{i}-0", 1, 32), uris[i % h]) for i in range(n)]
        c0, t0 = time.process_time(), time.perf_counter()
        results = ex.run_plan(actions)
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - c0
        ex.close()
        failed = sum(not r.ok for r in results)
        max_seen = max(d.max_active for d in drivers.values())
        for d in drivers.values():
            d.close()
        if failed:
            raise SystemExit(f"{failed} deploys failed")
        return n / elapsed, max_seen, cpu / n


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--vms", type=int, default=64)
    p.add_argument("--hosts", type=int, default=4)
    p.add_argument("--latency", default="0.05", help="seconds per deploy; a comma list runs each")
    p.add_argument("--limits", default="1,4,0", help="per-host limits to try; 0 = unlimited")
    p.add_argument("--rounds", type=int, default=3, help="runs per limit; the median is reported")
    p.add_argument("--target", type=float, default=0.9)
    p.add_argument("--driver", choices=["test", "simulated"], default="test",
                   help="test: libvirt test driver (real libvirt calls, ~0.4 ms of CPU per deploy); "
                        "simulated: in-memory, isolates the gate's and executor's own overhead")
    a = p.parse_args()
    n, h = a.vms, a.hosts
    latencies = [float(x) for x in a.latency.split(",")]
    limits = [int(x) for x in a.limits.split(",")]
    load = os.getloadavg()[0]
    print(f"gate throughput: {n} VMs on {h} {a.driver}-driver hosts, median of {a.rounds} runs, "
          f"{os.cpu_count()} CPUs, load average {load:.2f} at start")
    head = f"| {'latency':>7} | {'limit':>9} | {'max/host':>8} | {'ops/s':>8} | {'ideal':>8} | {'% ideal':>7} | {'CPU ms/op':>9} |"
    print(head)
    print("|" + "|".join("-" * (len(c) - 1) + ":" for c in head.split("|")[1:-1]) + "|")
    worst = 1.0
    for lat in latencies:
        for limit in limits:
            k = n / h if limit == 0 else min(limit, n / h)
            ideal = k * h / lat
            runs = [run_once(n, h, lat, limit, r, a.driver) for r in range(a.rounds)]
            ops = statistics.median(r[0] for r in runs)
            seen = max(r[1] for r in runs)
            cpu = statistics.median(r[2] for r in runs)
            share = ops / ideal
            worst = min(worst, share)
            label = "unlimited" if limit == 0 else str(limit)
            print(f"| {lat * 1000:>5.0f}ms | {label:>9} | {seen:>8} | {ops:>8.1f} | {ideal:>8.1f} | {share * 100:>6.1f}% "
                  f"| {cpu * 1000:>9.2f} |", flush=True)
    ok = worst >= a.target
    print(f"worst share of ideal {worst * 100:.1f}% (target {a.target * 100:.0f}%): {'OK' if ok else 'BELOW TARGET'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
