"""Schemathesis against the OpenAPI spec of a real server: zero server errors."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.xdist_group("daemon-fuzz")


def test_no_server_errors(server, tmp_path):
    exe = Path(sys.executable).with_name("schemathesis")
    if not exe.exists():
        exe = shutil.which("schemathesis")
    assert exe, "schemathesis is a test dependency"
    report = tmp_path / "st.json"
    r = subprocess.run(
        [str(exe), "run", f"{server.url}/openapi.json", "-H", f"Authorization: Bearer {server.tokens['admin']}",
         "--checks", "not_a_server_error", "-n", "25", "--phases", "examples,coverage,fuzzing", "--seed", "7",
         "--exclude-path", "/v1/events", "--request-timeout", "30", "--no-color",
         "--report", "ndjson", "--report-ndjson-path", str(report)],
        capture_output=True, text=True, timeout=300)
    tail = (r.stdout + r.stderr)[-3000:]
    assert r.returncode == 0, tail
    assert "generated" in r.stdout  # it did run test cases
    log = server.log_path.read_text()
    assert "Exception in ASGI application" not in log
