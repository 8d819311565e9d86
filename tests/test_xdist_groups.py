"""The root conftest's loadgroup fix: under ``-n 2 --dist loadgroup`` every test of an ``xdist_group`` runs on one
worker (so a group's module-scoped servers start once), and ungrouped tests still spread over both."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_a_groups_tests_run_on_one_worker_and_the_rest_on_both(tmp_path):
    (tmp_path / "conftest.py").write_text("from tests.conftest import pytest_collection_modifyitems  # noqa: F401\n")
    (tmp_path / "test_grouped.py").write_text(
        "import pytest\npytestmark = pytest.mark.xdist_group('g1')\n"
        "@pytest.mark.parametrize('i', range(6))\ndef test_a(i): pass\n")
    (tmp_path / "test_loose.py").write_text(
        "import time, pytest\n@pytest.mark.parametrize('i', range(12))\ndef test_b(i): time.sleep(0.05)\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:schemathesis", "-p", "no:hypothesispytest",
                        "-n", "2", "--dist", "loadgroup",
                        "-v", str(tmp_path)], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    ran = re.findall(r"\[(gw\d)\] .*PASSED (\S+)", r.stdout)
    grouped = {w for w, test in ran if "test_grouped.py" in test}
    assert len([t for _, t in ran if t.endswith("@g1")]) == 6, r.stdout
    assert len(grouped) == 1, r.stdout
    assert {w for w, test in ran if "test_loose.py" in test} == {"gw0", "gw1"}, r.stdout
