"""OpenNebula mode under bursts of new VMs: placements per second, and the delay from a VM becoming PENDING in oned
to Galerna's ``one.vm.deploy`` call for it (p50/p99), event-driven against Haizea-style polling, in one run.

    python benchmarks/opennebula_burst.py [--hosts 200] [--vms 2000] [--bursts 10] [--every 15] [--poll 60]
    python benchmarks/opennebula_burst.py --quick        # 20 hosts, 200 VMs in 4 bursts, 10 s polling

The oned test double (``tests/opennebula/oned_double``) runs in this process with ``--hosts`` hosts of 16 cores
and 32 GB; ``galerna serve --opennebula`` runs as its own process against it, twice, on a fresh database each time:

- **events**: Galerna subscribed to the double's ZeroMQ publisher (full pool reads every 300 s, as configured by
  default);
- **polling**: no publisher (Galerna hears no event), and its pool read every ``--poll`` seconds: what Haizea did
  with OpenNebula (it asked oned every 60 s). The delay then includes up to one poll interval of waiting, plus the
  same placement cost as with events; this is the baseline measured, not modelled.

Every VM is best effort, 1 core and 256 MB for two hours, so all fit and none ends during the run; the burst VMs
are allocated straight into the double's model (a burst arrives at once). Times are taken in the double: PENDING
when the VM is allocated, the deploy when oned receives the call. Placements per second are each burst's VMs
divided by the time from the burst's arrival to its last deploy call (median over bursts), and overall.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.opennebula.galerna_process import GalernaProcess  # noqa: E402
from tests.opennebula.oned_double import actions  # noqa: E402
from tests.opennebula.oned_double.double import OnedDouble  # noqa: E402

VM = ('NAME = "burst"\nCPU = 1\nMEMORY = 256\n'
      'HAIZEA = [ START = "best_effort", DURATION = "02:00:00", PREEMPTIBLE = "yes" ]\n')


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q / 100 * (len(xs) - 1))))] if xs else float("nan")


def run(label: str, args, events: bool, reconcile: float) -> dict:
    oned = OnedDouble().start()
    if events:
        oned.start_zmq()
    for i in range(args.hosts):
        oned.add_host(f"node{i + 1:03d}", 16, 32768)
    pending: dict[int, float] = {}
    deployed: dict[int, float] = {}
    lock = threading.Lock()

    def on_call(call) -> None:  # noqa: ANN001
        if call.method == "one.vm.deploy":
            with lock:
                deployed.setdefault(int(call.params[0]), time.time())

    oned.model.api_listeners.append(on_call)
    with tempfile.TemporaryDirectory(prefix="galerna-one-bench-") as tmp:
        g = GalernaProcess(oned, Path(tmp), f"reconcile_interval = {reconcile:g}\n"
                                            "[enactment.recovery]\nreconcile_interval = 120\n")
        try:
            t_start = time.monotonic()
            g.start(timeout=180)
            startup = time.monotonic() - t_start
            size = args.vms // args.bursts
            bursts: list[tuple[float, list[int]]] = []
            admin = oned.model.users[0]
            for b in range(args.bursts):
                at = time.time()
                ids = []
                with oned.model.lock:
                    for _ in range(size):
                        vid = actions.allocate(oned.model, admin, VM, False)
                        pending[vid] = at
                        ids.append(vid)
                bursts.append((at, ids))
                if b < args.bursts - 1:
                    time.sleep(args.every)
            limit = time.monotonic() + reconcile + args.drain
            while time.monotonic() < limit:
                with lock:
                    if len(deployed) >= len(pending):
                        break
                time.sleep(0.2)
        finally:
            g.stop()
            oned.stop()
    delays = [deployed[v] - pending[v] for v in pending if v in deployed]
    rates = []
    for at, ids in bursts:
        done = [deployed[v] for v in ids if v in deployed]
        if len(done) == len(ids):
            rates.append(len(ids) / max(1e-9, max(done) - at))
    span = max(deployed.values()) - min(pending.values()) if deployed else float("nan")
    return {"label": label, "placed": len(delays), "vms": len(pending), "startup": startup,
            "burst_rate": statistics.median(rates) if rates else float("nan"),
            "overall_rate": len(delays) / span if deployed else 0.0,
            "p50": percentile(delays, 50), "p99": percentile(delays, 99), "max": max(delays, default=float("nan"))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hosts", type=int, default=200)
    ap.add_argument("--vms", type=int, default=2000)
    ap.add_argument("--bursts", type=int, default=10)
    ap.add_argument("--every", type=float, default=15.0, help="seconds between bursts")
    ap.add_argument("--poll", type=float, default=60.0, help="the polling baseline's pool-read interval (Haizea: 60)")
    ap.add_argument("--drain", type=float, default=120.0, help="seconds after the last burst (and one poll) to wait")
    ap.add_argument("--quick", action="store_true", help="20 hosts, 200 VMs in 4 bursts every 5 s, 10 s polling")
    ap.add_argument("--only", choices=("events", "polling"), help="run one side only")
    args = ap.parse_args(argv)
    if args.quick:
        args.hosts, args.vms, args.bursts, args.every, args.poll, args.drain = 20, 200, 4, 5.0, 10.0, 60.0
    print(f"OpenNebula burst: {args.hosts} hosts, {args.vms} VMs in {args.bursts} bursts every {args.every:g} s",
          flush=True)
    results = []
    if args.only != "polling":
        results.append(run("events (ZeroMQ)", args, events=True, reconcile=300.0))
    if args.only != "events":
        results.append(run(f"polling ({args.poll:g} s, no events)", args, events=False, reconcile=args.poll))
    print(f"{'mode':<28} {'placed':>11} {'start s':>8} {'burst pl/s':>11} {'overall pl/s':>13} "
          f"{'p50 s':>8} {'p99 s':>8} {'max s':>8}")
    for r in results:
        print(f"{r['label']:<28} {r['placed']:>5}/{r['vms']:<5} {r['startup']:>8.1f} {r['burst_rate']:>11.1f} "
              f"{r['overall_rate']:>13.1f} {r['p50']:>8.2f} {r['p99']:>8.2f} {r['max']:>8.2f}")
    return 0 if all(r["placed"] == r["vms"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
