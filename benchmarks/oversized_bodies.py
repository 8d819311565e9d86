"""What an oversized request body costs the daemon: server CPU and memory for 80 MB of JSON sent to
``POST /v1/leases`` without a token, with a valid token, and chunked (no Content-Length) with a valid token.

Starts a real `galerna serve --no-enact` (SQLite in a temporary directory) on a free loopback port and sends each
body on a plain socket, in 1 MiB writes, stopping when the server answers or closes. Prints per case the answer,
the bytes the client got to send, the server's CPU seconds and its resident memory after (and the peak).

    python benchmarks/oversized_bodies.py [--mb 80]

Issue 17 measured 6.5 s of CPU and 588 MB RSS for the unauthenticated 80 MB before the limits. Run it with
``PYTHONPATH`` pointing at another checkout to measure that code instead.
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from served import wait_for_health


def cpu_and_memory(pid: int) -> tuple[float, float, float]:
    """CPU seconds so far, RSS MB now and peak RSS MB (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return cpu, int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024


def send(port: int, size: int, token: str | None, chunked: bool) -> tuple[str, int, float]:
    """Send ``size`` bytes of a JSON body; the answer's status line, the bytes sent, the seconds it took."""
    head = ["POST /v1/leases HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    if token:
        head.append(f"Authorization: Bearer {token}")
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}")
    piece = b'{"cpu": 1, "memory": 1024},' * (1024 * 1024 // 27)
    opening = b'{"type": "best_effort", "duration": 60, "nodes": ['
    t0 = time.monotonic()
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=120) as s:
        try:
            s.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
            body = [opening] + [piece] * ((size - len(opening)) // len(piece))
            body.append(b" " * (size - sum(map(len, body)) - 2) + b"]}")
            for part in body:
                if chunked:
                    part = b"%x\r\n%s\r\n" % (len(part), part)
                s.sendall(part)
                sent += len(part)
            if chunked:
                s.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            answer = s.recv(200).split(b"\r\n", 1)[0].decode() or "(closed)"
        except (ConnectionResetError, TimeoutError) as e:
            answer = f"({type(e).__name__})"
    return answer, sent, time.monotonic() - t0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=80.0)
    a = ap.parse_args()
    size = int(a.mb * 1_000_000)
    work = Path(tempfile.mkdtemp(prefix="galerna-bodies-"))
    db = f"sqlite:///{work / 'galerna.db'}"
    from galerna.store.db import Store

    store = Store(db)
    token = store.create_token("bench", tenant="bench")[1]
    store.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "galerna.api", "serve", "--db", db, "--port", str(port),
                             "--data-dir", str(work / "data"), "--no-enact"],
                            stdout=open(work / "server.log", "w"), stderr=subprocess.STDOUT,
                            env=dict(os.environ, XDG_DATA_HOME=str(work)))
    try:
        wait_for_health(proc, f"http://127.0.0.1:{port}", work / 'server.log')
        print(f"{a.mb:.0f} MB bodies to POST /v1/leases, load ~{os.getloadavg()[0]:.1f}")
        print(f"{'case':<22} {'answer':<34} {'sent MB':>8} {'wall s':>7} {'server cpu s':>12} {'rss MB':>7} "
              f"{'peak MB':>8}")
        for name, tok, chunked in [("no token", None, False), ("valid token", token, False),
                                   ("valid token, chunked", token, True)]:
            cpu0, _, _ = cpu_and_memory(proc.pid)
            answer, sent, wall = send(port, size, tok, chunked)
            time.sleep(0.5)
            cpu1, rss, peak = cpu_and_memory(proc.pid)
            print(f"{name:<22} {answer:<34} {sent / 1e6:>8.1f} {wall:>7.2f} {cpu1 - cpu0:>12.2f} {rss:>7.0f} "
                  f"{peak:>8.0f}")
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
