"""`galerna serve --opennebula URL` as a real process against an oned double, with its REST API at hand.

The end-to-end tests that kill Galerna (-9) or read its REST API start the daemon as an operator would: its own
process, credentials from ONE_AUTH, events from ONE_ZMQ, a configuration file, a SQLite database that outlives it.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from galerna.store.db import Store

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GalernaProcess:
    """One daemon in OpenNebula mode; ``start()`` again after ``kill()`` restarts it on the same database."""

    def __init__(self, oned, tmp: Path, config: str = ""):
        self.oned, self.tmp = oned, tmp
        self.db = f"sqlite:///{tmp / 'g.db'}"
        self.token = Store(self.db).create_token("admin", admin=True)[1]
        self.auth = tmp / "one_auth"
        self.auth.write_text(oned.session + "\n")
        self.conf = tmp / "g.toml"
        self.conf.write_text('[opennebula]\nplacement = "xmlrpc"\naction_poll = 0.1\n' + config)
        self.log = tmp / "serve.log"
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.starts = 0

    def start(self, timeout: float = 60.0) -> "GalernaProcess":
        self.port = free_port()
        env = {**os.environ, "PYTHONPATH": str(ROOT), "ONE_AUTH": str(self.auth), "HOME": str(self.tmp),
               "ONE_ZMQ": self.oned.zmq_endpoint or "tcp://127.0.0.1:9"}
        with self.log.open("a") as out:
            out.write(f"--- start {self.starts}\n")
            out.flush()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "galerna.cli", "serve", "--opennebula", self.oned.url, "-c", str(self.conf),
                 "--db", self.db, "--port", str(self.port), "--data-dir", str(self.tmp / "data")],
                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=self.tmp)
        self.starts += 1
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise AssertionError(f"galerna serve exited with {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                if self.api().get("/v1/health").status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"galerna serve did not answer in {timeout} s:\n{self.log.read_text()[-4000:]}")

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=f"http://127.0.0.1:{self.port}",
                            headers={"Authorization": f"Bearer {self.token}"}, timeout=10)

    def leases(self) -> list[dict]:
        """Every lease the REST API lists (pages of 1,000)."""
        out, api = [], self.api()
        while True:
            page = api.get("/v1/leases", params={"limit": 1000, "offset": len(out)})
            page.raise_for_status()
            out += page.json()
            if len(page.json()) < 1000:
                return out

    def leases_by_vm(self) -> dict[int, dict]:
        """OpenNebula VM id -> its lease as the REST API shows it (names are ``opennebula:<ids>:<tag>``)."""
        out = {}
        for lease in self.leases():
            parts = (lease.get("name") or "").split(":")
            if len(parts) == 3 and parts[0] == "opennebula":
                for vid in parts[1].split(","):
                    out[int(vid)] = lease
        return out

    def kill(self) -> None:
        """kill -9: no shutdown code runs, whatever it was doing."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
