"""`galerna view` in a subprocess on a free loopback port (for the tests and the benchmark)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.daemon.conftest import free_port


class ViewServer:
    def __init__(self, out: Path, log: Path, tree: Path | None = None):
        """tree: run the `galerna` of that source tree instead of this one (the benchmark's --against)."""
        self.out, self.log_path, self.proc, self.port, self.tree = out, log, None, 0, tree

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self, timeout: float = 60.0) -> "ViewServer":
        for _ in range(5):
            self.port = free_port()
            log = open(self.log_path, "w")
            self.proc = subprocess.Popen([sys.executable, "-m", "galerna.cli", "view", str(self.out),
                                          "--port", str(self.port)], stdout=log, stderr=subprocess.STDOUT,
                                         **self._tree_env())
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    log.close()
                    if "address already in use" in self.log_path.read_text():
                        break
                    raise RuntimeError(f"galerna view exited: {self.log_path.read_text()}")
                try:
                    r = httpx.get(self.url + "v1/view/data", timeout=5)
                    if r.status_code == 200 and r.json()["name"] == self.out.resolve().name:
                        return self
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
            else:
                raise RuntimeError("galerna view did not come up")
        raise RuntimeError("galerna view could not bind a port")

    def _tree_env(self) -> dict:
        if self.tree is None:
            return {}
        return {"cwd": self.tree, "env": {**os.environ, "PYTHONPATH": str(self.tree)}}

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
