"""What the benchmarks that run a real `galerna serve` share: waiting for it to come up, and its CPU time.

Imported as a sibling module (``python benchmarks/NAME.py`` puts this directory first on ``sys.path``).
"""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx


def wait_for_health(proc: subprocess.Popen, url: str, log: Path, tries: int = 600) -> None:
    """Return once ``url``/v1/health answers 200; exit naming ``log`` if the server dies or never does. Every try
    waits 0.1 s: /v1/health answers 503 while the daemon starts, so a try that got an answer must wait too."""
    for _ in range(tries):
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}; see {log}")
        try:
            if httpx.get(url + "/v1/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"the server did not come up; see {log}")


def server_cpu(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc; nan elsewhere or once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")
