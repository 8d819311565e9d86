"""Starting a `galerna serve` that is not expected to come up healthy (a second daemon, a standby, a port clash)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.daemon.conftest import Server


def spawn(srv: Server) -> subprocess.Popen:
    """Start ``srv``'s process on its port without waiting for it to be healthy; its output goes to its log."""
    srv.workdir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, XDG_DATA_HOME=str(srv.workdir / "xdg"), PYTHONUNBUFFERED="1")
    srv.log_path = srv.workdir / f"server-{int(time.time() * 1000)}.log"
    with open(srv.log_path, "w") as log:
        srv.proc = subprocess.Popen(
            [sys.executable, "-m", "galerna.api", "serve", "--db", srv.db, "--port", str(srv.port),
             "--data-dir", str(srv.workdir / "data"), *srv.extra], stdout=log, stderr=subprocess.STDOUT, env=env)
    return srv.proc


def health(url: str) -> tuple[int, dict] | None:
    try:
        r = httpx.get(url + "/v1/health", timeout=5)
        return r.status_code, r.json()
    except httpx.HTTPError:
        return None


def log_text(srv: Server) -> str:
    return Path(srv.log_path).read_text()
