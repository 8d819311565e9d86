"""Schemathesis against the OpenAPI document of a live `galerna serve` on loopback (issue 17 section 5): no server
error, and every answer conforms to the document (its status is documented, its content type and body are the
documented ones). Bounded in examples so that it stays under a minute on two cores; it runs in `make test`, so in CI.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.xdist_group("daemon-fuzz")

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def test_live_server_has_no_server_errors_and_conforms_to_its_openapi_document(server, tmp_path):
    exe = Path(sys.executable).with_name("schemathesis")
    if not exe.exists():
        exe = shutil.which("schemathesis")
    assert exe, "schemathesis is a test dependency"
    report = tmp_path / "st.ndjson"
    began = time.monotonic()
    r = subprocess.run(
        [str(exe), "run", f"{server.url}/openapi.json", "-H", f"Authorization: Bearer {server.tokens['admin']}",
         "--checks", CHECKS, "-n", "6", "--phases", "examples,coverage,fuzzing", "--seed", "7",
         "--exclude-path", "/v1/events", "--request-timeout", "30", "--no-color", "--continue-on-failure",
         "--report", "ndjson", "--report-ndjson-path", str(report)],
        capture_output=True, text=True, timeout=300)
    took = time.monotonic() - began
    tail = (r.stdout + r.stderr)[-6000:]
    assert r.returncode == 0, tail
    assert "generated" in r.stdout  # it did run test cases
    checked = {c["name"] for line in report.read_text().splitlines() if '"checks"' in line
               for c in _checks(json.loads(line))}
    assert set(CHECKS.split(",")) <= checked, checked  # every check really ran on some answer
    log = server.log_path.read_text()
    assert "Exception in ASGI application" not in log
    print(f"schemathesis: {took:.1f} s")


def _checks(event: dict):
    """The check results (``{"name": ..., "status": ...}``) in one ndjson event, wherever schemathesis nests them."""
    stack = [event]
    while stack:
        x = stack.pop()
        if isinstance(x, dict):
            if isinstance(x.get("name"), str) and x.get("status") == "success":
                yield x
            stack.extend(x.values())
        elif isinstance(x, list):
            stack.extend(x)
