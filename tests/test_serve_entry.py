"""`serve` lives above the API it starts: the daemon package never imports the API, and both entry points
(`galerna serve`, `python -m galerna.api serve`) still offer the daemon's commands."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

import galerna.daemon

DAEMON_DIR = Path(galerna.daemon.__file__).parent


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_the_daemon_never_imports_the_api():
    found = {p.name: sorted(m for m in _imports(p) if m == "galerna.api" or m.startswith("galerna.api."))
             for p in DAEMON_DIR.glob("*.py")}
    assert {n: m for n, m in found.items() if m} == {}


def test_galerna_offers_serve_and_token():
    from galerna.cli import app

    out = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"}).output
    assert " serve " in out and " token " in out


def _python_m_galerna_api(*args: str) -> subprocess.CompletedProcess:
    env = {"COLUMNS": "200", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(DAEMON_DIR.parent.parent)}
    return subprocess.run([sys.executable, "-m", "galerna.api", *args], capture_output=True, text=True, timeout=60,
                          env=env)


def test_python_m_galerna_api_offers_the_daemon_commands():
    r = _python_m_galerna_api("--help")
    assert r.returncode == 0, r.stderr
    for command in ("serve", "token", "lease", "host", "queue", "events"):
        assert f" {command} " in r.stdout, command
    r = _python_m_galerna_api("serve", "--help")
    assert r.returncode == 0 and "--no-enact" in r.stdout
