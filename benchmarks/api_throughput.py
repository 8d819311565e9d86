"""Sustained acknowledged lease submissions per second over HTTP, with p50/p99 latency.

Starts `galerna serve` (SQLite in a temporary directory, or --db URL) on a
free loopback port, then P client processes each submit leases back to back
for --seconds. Every 201/409 answer is a durably committed request.

    python benchmarks/api_throughput.py [--clients 8] [--seconds 10] [--db URL] [--enact] [--client stdlib|httpx]

The clients share the machine with the server, so the default client is the
cheapest one (http.client on a keep-alive connection, ~0.4 ms CPU per request,
against ~1.1 ms for httpx), as one would use wrk rather than a Python client:
what is measured is the server. ``--client httpx`` shows the other figure.
"""
from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from served import server_cpu, wait_for_health


def client(url: str, token: str, seconds: float, q, kind: str = "httpx") -> None:  # noqa: ANN001
    lat = []
    ok = other = 0
    cpu0 = time.process_time()
    body = {"type": "best_effort", "duration": 3600, "cpu": 0.01, "memory": 1}
    post = _httpx_poster(url, token) if kind == "httpx" else _stdlib_poster(url, token)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t0 = time.perf_counter()
        try:
            status = post(body)
        except (httpx.HTTPError, OSError, http.client.HTTPException):
            other += 1
            if proc_gone(url):
                break
            post = _httpx_poster(url, token) if kind == "httpx" else _stdlib_poster(url, token)
            continue
        dt = time.perf_counter() - t0
        if status in (201, 409):
            ok += 1
            lat.append(dt)
        else:
            other += 1
    q.put((ok, other, lat, time.process_time() - cpu0))


def _httpx_poster(url: str, token: str):
    c = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)

    def post(body: dict) -> int:
        return c.post("/v1/leases", json=body).status_code

    return post


def _stdlib_poster(url: str, token: str):
    """http.client on one keep-alive connection: far less client CPU per request than httpx, which matters when the
    clients share the server's cores."""
    host, port = url.rsplit("/", 1)[1].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def post(body: dict) -> int:
        conn.request("POST", "/v1/leases", body=json.dumps(body), headers=headers)
        r = conn.getresponse()
        r.read()
        return r.status

    return post


def proc_gone(url: str) -> bool:
    try:
        httpx.get(url + "/v1/health", timeout=5)
        return False
    except httpx.HTTPError:
        return True


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--db", default=None)
    ap.add_argument("--enact", action="store_true", help="start VMs on test-driver hosts too")
    ap.add_argument("--client", choices=["stdlib", "httpx"], default="stdlib",
                    help="HTTP client in the client processes (stdlib: http.client, cheaper on a shared machine)")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="galerna-bench-"))
    db = a.db or f"sqlite:///{work / 'galerna.db'}"
    from galerna.store.db import Store

    token = Store(db).create_token("bench", admin=True)[1]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "galerna.api", "serve", "--db", db, "--port", str(port), "--data-dir",
           str(work / "data")] + ([] if a.enact else ["--no-enact"])
    env = dict(os.environ, XDG_DATA_HOME=str(work))
    # a large site so that best-effort leases start at once rather than pile up in the queue
    (work / "big.toml").write_text("[site]\nnodes = 64\ncpu = 64\nmemory = 262144\n")
    if not a.enact:
        cmd += ["--config", str(work / "big.toml")]
    proc = subprocess.Popen(cmd, stdout=open(work / "server.log", "w"), stderr=subprocess.STDOUT, env=env)
    try:
        wait_for_health(proc, url, work / 'server.log', tries=300)
        cpu0 = server_cpu(proc.pid)
        q: mp.Queue = mp.Queue()
        procs = [mp.Process(target=client, args=(url, token, a.seconds, q, a.client)) for _ in range(a.clients)]
        t0 = time.monotonic()
        for p in procs:
            p.start()
        results = [q.get() for _ in procs]
        elapsed = time.monotonic() - t0
        cpu = server_cpu(proc.pid) - cpu0
        for p in procs:
            p.join()
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(30)
    ok = sum(r[0] for r in results)
    other = sum(r[1] for r in results)
    lat = sorted(x for r in results for x in r[2])
    p50 = lat[len(lat) // 2] * 1000 if lat else float("nan")
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000 if lat else float("nan")
    print(f"db={'sqlite' if db.startswith('sqlite') else db.split('://')[0]} clients={a.clients} "
          f"enact={a.enact} client={a.client} seconds={elapsed:.1f}")
    print(f"acknowledged: {ok} ({ok / elapsed:.0f}/s), other answers: {other}, "
          f"latency p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    # CPU time per acknowledged request: less sensitive than req/s to other load on a shared machine
    print(f"cpu per acknowledged request: server {cpu / max(ok, 1) * 1000:.2f} ms, "
          f"clients {sum(r[3] for r in results) / max(ok, 1) * 1000:.2f} ms")
    return 0 if ok / elapsed >= 500 and p99 < 100 else 1


if __name__ == "__main__":
    sys.exit(main())
