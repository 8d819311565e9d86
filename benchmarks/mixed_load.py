"""Throughput and latency of a mixed load, with and without 100 open event streams, side by side in one run.

Starts a real `galerna serve` (SQLite in a temporary directory, libvirt test-driver hosts, VMs enacted) on a free
loopback port. Client threads (http.client, one keep-alive connection each) run a mix for ``--seconds`` per
phase: submit a best-effort lease, list leases, read one lease, cancel the thread's oldest lease. The phases are
``--phases`` (default 0,100,0): the number of ``/v1/events`` streams open meanwhile, opened on plain sockets by
the load's own tenants (10 tenants, so 10 streams per token, under the default cap of 16) and read by one process
that drops what arrives, as idle consoles would. It prints, per phase and request kind: count, req/s, p50, p99;
and the server's CPU per request.

    python benchmarks/mixed_load.py [--threads 4] [--seconds 10] [--phases 0,100,0] [--stream-tenants 10]
    python benchmarks/mixed_load.py --phases 0,1000 --stream-tenants 1 --raise-caps   # issue 17's case

Issue 17 measured 214 req/s dropping to 62 req/s with 1,000 open streams of one tenant. Every request and
socket goes to 127.0.0.1 only; the run is bounded by its phases and stops by itself.
"""
from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

from served import server_cpu, wait_for_health

TENANTS = 10
KINDS = ("submit", "list", "read", "cancel")


class Load(threading.Thread):
    """One client: submit, list, read, submit, list, cancel… on one keep-alive connection, until ``stop``."""

    def __init__(self, port: int, token: str, stop: threading.Event):
        super().__init__(daemon=True)
        self.port, self.token, self.stop = port, token, stop
        self.lat: dict[str, list[float]] = defaultdict(list)
        self.failed: dict[str, int] = defaultdict(int)
        self.mine: list[str] = []

    def call(self, conn: http.client.HTTPConnection, kind: str, method: str, path: str, body: dict | None = None):
        headers = {"Authorization": f"Bearer {self.token}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        t0 = time.perf_counter()
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        r = conn.getresponse()
        data = r.read()
        dt = time.perf_counter() - t0
        if r.status in (200, 201, 409):
            self.lat[kind].append(dt)
        else:
            self.failed[kind] += 1
        return r.status, data

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        lease = {"type": "best_effort", "duration": 3600, "cpu": 0.01, "memory": 1}
        step = 0
        while not self.stop.is_set():
            kind = ("submit", "list", "read", "submit", "list", "cancel")[step % 6]
            step += 1
            if kind == "submit":
                status, data = self.call(conn, kind, "POST", "/v1/leases", lease)
                if status == 201:
                    self.mine.append(json.loads(data)["id"])
            elif kind == "list":
                self.call(conn, kind, "GET", "/v1/leases?limit=50")
            elif kind == "read" and self.mine:
                self.call(conn, kind, "GET", f"/v1/leases/{self.mine[-1]}")
            elif kind == "cancel" and self.mine:
                self.call(conn, kind, "DELETE", f"/v1/leases/{self.mine.pop(0)}")
        conn.close()


def read_streams(port: int, tokens: list[str], n: int, conn) -> None:  # noqa: ANN001 - a multiprocessing Pipe end
    """In a process of its own (so its reading does not take the load threads' GIL): open ``n`` event streams on
    plain sockets, say so, then read and drop what arrives until told to stop; answer the bytes read."""
    sel = selectors.DefaultSelector()
    socks = []
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(f"GET /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tokens[i % len(tokens)]}"
                  "\r\n\r\n".encode())
        head = s.recv(100)
        if not head.startswith(b"HTTP/1.1 200"):
            conn.send(f"stream {i} refused: {head!r}")
            return
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        socks.append(s)
    conn.send("open")
    received = 0
    while not conn.poll():
        for key, _ in sel.select(0.2):
            try:
                data = key.fileobj.recv(65536)
            except BlockingIOError:
                continue
            if not data:
                sel.unregister(key.fileobj)
            received += len(data)
    conn.send(received)
    for s in socks:
        s.close()


def phase(port: int, pid: int, tokens: list[str], streams: int, threads: int, seconds: float,
          stream_tenants: int) -> dict:
    reader = None
    if streams:
        here, there = mp.Pipe()
        reader = mp.Process(target=read_streams, args=(port, tokens[:stream_tenants], streams, there), daemon=True)
        reader.start()
        said = here.recv()
        if said != "open":
            raise SystemExit(said)
        time.sleep(1.0)  # the streams are open and idle before the load starts
    stop = threading.Event()
    loads = [Load(port, tokens[i % len(tokens)], stop) for i in range(threads)]
    cpu0, t0 = server_cpu(pid), time.monotonic()
    for t in loads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in loads:
        t.join(60)
    elapsed, cpu = time.monotonic() - t0, server_cpu(pid) - cpu0
    received = 0
    if reader:
        here.send("stop")
        received = here.recv()
        reader.join(10)
        time.sleep(0.5)  # the server lets the streams go
    lat = {k: sorted(x for t in loads for x in t.lat[k]) for k in KINDS}
    failed = {k: sum(t.failed[k] for t in loads) for k in KINDS}
    return {"streams": streams, "elapsed": elapsed, "cpu": cpu, "lat": lat, "failed": failed,
            "stream_bytes": received}


def pct(xs: list[float], q: float) -> float:
    return xs[min(len(xs) - 1, int(len(xs) * q))] * 1000 if xs else float("nan")


def report(results: list[dict]) -> None:
    print(f"{'streams':>7} {'kind':<7} {'count':>6} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'failed':>6}")
    for r in results:
        total = 0
        for k in KINDS:
            xs = r["lat"][k]
            total += len(xs)
            print(f"{r['streams']:>7} {k:<7} {len(xs):>6} {len(xs) / r['elapsed']:>7.0f} {pct(xs, 0.5):>7.1f} "
                  f"{pct(xs, 0.99):>7.1f} {r['failed'][k]:>6}")
        every = sorted(x for k in KINDS for x in r["lat"][k])
        print(f"{r['streams']:>7} {'all':<7} {total:>6} {total / r['elapsed']:>7.0f} {pct(every, 0.5):>7.1f} "
              f"{pct(every, 0.99):>7.1f} {sum(r['failed'].values()):>6}   server cpu "
              f"{r['cpu'] / max(total, 1) * 1000:.2f} ms/request, stream bytes read {r['stream_bytes']}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--phases", default="0,100,0", help="open streams in each phase, comma-separated")
    ap.add_argument("--stream-tenants", type=int, default=TENANTS,
                    help="the streams belong to the first N tenants of the load (1: all of one tenant)")
    ap.add_argument("--raise-caps", action="store_true",
                    help="an [api] section lifting the stream caps to what the phases open (not for older code)")
    a = ap.parse_args()
    phases = [int(x) for x in a.phases.split(",")]
    work = Path(tempfile.mkdtemp(prefix="galerna-mixed-"))
    db = f"sqlite:///{work / 'galerna.db'}"
    from galerna.store.db import Store

    store = Store(db)
    tokens = [store.create_token(f"t{i}", tenant=f"t{i}")[1] for i in range(TENANTS)]
    store.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "galerna.api", "serve", "--db", db, "--port", str(port),
           "--data-dir", str(work / "data")]
    if a.raise_caps:
        most = max(phases)
        (work / "caps.toml").write_text(f"[api]\nmax_streams = {max(most, 1)}\n"
                                        f"max_streams_per_token = {max(most, 1)}\n")
        cmd += ["--config", str(work / "caps.toml")]
    proc = subprocess.Popen(cmd, stdout=open(work / "server.log", "w"), stderr=subprocess.STDOUT,
                            env=dict(os.environ, XDG_DATA_HOME=str(work)))
    try:
        wait_for_health(proc, f"http://127.0.0.1:{port}", work / 'server.log')
        results = [phase(port, proc.pid, tokens, n, a.threads, a.seconds, a.stream_tenants) for n in phases]
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(30)
    print(f"galerna serve on SQLite, libvirt test-driver hosts, {a.threads} client threads, {a.seconds:.0f} s "
          f"per phase, streams of {a.stream_tenants} tenant(s), load ~{os.getloadavg()[0]:.1f}")
    report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
