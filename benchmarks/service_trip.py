"""The trip of a lease request inside the daemon, without HTTP: from ``Service.submit(...)`` to its answer.

Starts a ``Service`` (SQLite in a temporary directory, no hypervisors), then
1. submits --sequential leases one after the other and prints the p50/p99 time from the call to the answer (each its
   own batch: wake-up, apply, queue round, commit, answer);
2. fires --burst submissions at once and prints how many per second were answered (group commit: few batches) and
   the process's CPU time per submission, the figure to compare on a loaded machine.

    python benchmarks/service_trip.py [--sequential 300] [--burst 2000] [--idempotency-keys]

``--idempotency-keys`` gives every submission a key of its own (as the CLI client does): the cost of claiming it in
the scheduler thread (one primary-key read) and writing it with the lease.

It uses ``call``, which both the string-switch daemon and the typed-operation one have, so the same script measures
both: ``PYTHONPATH=/path/to/other/checkout python benchmarks/service_trip.py``.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sequential", type=int, default=300)
    ap.add_argument("--burst", type=int, default=2000)
    ap.add_argument("--idempotency-keys", action="store_true", help="a key of its own on every submission")
    a = ap.parse_args()

    import galerna
    from galerna.config.load import validate
    from galerna.daemon.service import Service
    from galerna.daemon.settings import DaemonConfig, Settings
    from galerna.store.db import Store

    with tempfile.TemporaryDirectory() as tmp:
        st = Settings(daemon=DaemonConfig(enact=False, db=f"sqlite:///{Path(tmp) / 'g.db'}", data_dir=tmp),
                      config=validate({"site": {"nodes": 64, "cpu": 8, "memory": 16384}}, Path(tmp) / "x.toml"))
        svc = Service(Store(st.daemon.db), st)
        svc.start()
        args = {"type": "be", "duration": 3600, "nodes": [{"cpu": 0.01, "memory": 1}], "start": None,
                "deadline": None, "preemptible": True, "name": None, "image": None, "tenant": "t"}
        counter = iter(range(10**9))

        def keyed() -> dict:
            if not a.idempotency_keys:
                return args
            from galerna.daemon.idempotency import Key

            return dict(args, idempotency=Key("tenant:t", f"k{next(counter)}", "h"))

        for _ in range(20):  # warm-up
            svc.submit(**keyed()).result(30)
        lat = []
        for _ in range(a.sequential):
            t0 = time.perf_counter()
            svc.submit(**keyed()).result(30)
            lat.append(time.perf_counter() - t0)
        lat.sort()
        b0, t0, c0 = svc.batches, time.perf_counter(), time.process_time()
        futures = [svc.submit(**keyed()) for _ in range(a.burst)]
        for f in futures:
            f.result(120)
        burst, cpu = time.perf_counter() - t0, time.process_time() - c0
        batches = svc.batches - b0
        svc.stop()
        svc.store.close()
    print(f"galerna from {Path(galerna.__file__).parent}")
    print(f"sequential: {a.sequential} submits, p50 {statistics.median(lat) * 1e3:.2f} ms, "
          f"p99 {lat[int(0.99 * (len(lat) - 1))] * 1e3:.2f} ms")
    print(f"burst: {a.burst} submits answered in {burst:.2f} s ({a.burst / burst:.0f}/s) in {batches} batches, "
          f"{cpu / a.burst * 1e3:.2f} ms CPU each")


if __name__ == "__main__":
    main()
