"""Debian's Chromium driven by Playwright (PyPI), with the flags this machine's closed network needs."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

CHROMIUM = os.environ.get("GALERNA_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium's own calls home are refused here and slow every page.
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def launch(playwright, viewport=(1400, 800)):
    """A persistent context on a fresh user-data-dir (so no profile is shared between runs)."""
    profile = tempfile.mkdtemp(prefix="galerna-chromium-")
    ctx = playwright.chromium.launch_persistent_context(
        profile, executable_path=CHROMIUM, args=ARGS, headless=True,
        viewport={"width": viewport[0], "height": viewport[1]})
    ctx.profile_dir = profile  # names this browser's processes (the benchmark reads their CPU time)
    return ctx


def cpu_seconds(profile: str) -> float:
    """CPU time (user + system) used so far by every process of the browser started on ``profile``."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if profile.encode() not in fh.read():
                    continue
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total / tick


def available() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not Path(CHROMIUM).is_file():
        return f"{CHROMIUM} is missing (apt-get install chromium; .ci/run installs it as root)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    from galerna.console.assets import vendor_missing

    if vendor_missing():
        return "the console's npm packages are missing (bash scripts/setup.sh, or npm ci in galerna/console/)"
    return None
