"""`galerna simulate` starts without the daemon's, the client's and the report's libraries (issue 13: start-up
under 0.25 s), and the lazy command table in galerna/cli.py stays true to what each area registers.

The import check runs in a fresh interpreter, since this test process has long since loaded everything."""
from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.core import TyperGroup
from typer.testing import CliRunner

from galerna import cli

ROOT = Path(__file__).resolve().parent.parent

TINY_LWF = """<?xml version="1.0"?>
<lease-workload name="tiny">
  <site><resource-types names="CPU Memory"/><nodes><node-set numnodes="2">
    <res type="CPU" amount="100"/><res type="Memory" amount="1024"/></node-set></nodes></site>
  <lease-requests>
    <lease-request arrival="00:00:00.00"><lease id="1" preemptible="true">
      <nodes><node-set numnodes="1"><res amount="100" type="CPU"/><res amount="1024" type="Memory"/></node-set></nodes>
      <start/><duration time="00:10:00.00"/><software><disk-image id="a.img" size="1024"/></software>
    </lease></lease-request>
  </lease-requests>
</lease-workload>
"""

# Libraries (and Galerna areas) a simulation has no use for; each costs tens of milliseconds or more to import.
HEAVY = [
    "fastapi", "starlette", "uvicorn", "sqlalchemy", "alembic", "httpx", "libvirt", "matplotlib", "pandas",
    "pyarrow", "dask", "distributed", "zmq", "rich.progress", "configparser",
    "galerna.api", "galerna.daemon", "galerna.store", "galerna.enact", "galerna.client", "galerna.report",
    "galerna.sweep", "galerna.console", "galerna.opennebula", "galerna.config.haizea",
]

PROBE = """
import json, sys
from galerna.cli import app
try:
    app(["simulate", sys.argv[1], "--out", sys.argv[2]])
except SystemExit as e:
    code = e.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def test_simulate_loads_no_heavy_module(tmp_path):
    trace = tmp_path / "tiny.lwf"
    trace.write_text(TINY_LWF)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-c", PROBE, str(trace), str(out)], cwd=ROOT, capture_output=True,
                          text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    probe = json.loads(proc.stdout.strip().splitlines()[-1])
    assert probe["code"] in (0, None), proc.stderr
    assert (out / "leases.csv").read_text().count("\n") == 2  # the simulation really ran: header + one lease
    loaded = set(probe["modules"])
    assert "galerna.sim.command" in loaded and "numpy" in loaded  # the probe saw the modules it used
    heavy = sorted(m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY))
    assert heavy == []


# What the `galerna` entry leaves in place for a simulation: the two defaults it sets unless the user did, the
# threads of the process (OpenBLAS starts one per core when numpy loads, unless told one), and whether pydantic
# scanned the installed packages for its plugins (entry_points(group="pydantic")).
DEFAULTS_PROBE = """
import gc, importlib.metadata as md, json, os, sys
scans = []
real = md.entry_points
def counting(*args, **kw):
    scans.append(kw.get("group"))
    return real(*args, **kw)
md.entry_points = counting
from galerna.cli import app
try:
    app(["simulate", sys.argv[1], "--out", sys.argv[2]])
except SystemExit as e:
    assert e.code in (0, None), e.code
print(json.dumps({"env": {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "PYDANTIC_DISABLE_PLUGINS")},
                  "threads": len(os.listdir("/proc/self/task")), "scans": scans,
                  "numpy": "numpy" in sys.modules, "models": "galerna.config.schema" in sys.modules,
                  "collector": gc.isenabled(), "frozen": gc.get_freeze_count()}))
"""


def run_defaults_probe(tmp_path, **env) -> dict:
    trace = tmp_path / "tiny.lwf"
    trace.write_text(TINY_LWF)
    proc = subprocess.run([sys.executable, "-c", DEFAULTS_PROBE, str(trace), str(tmp_path / "out")], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", **env})
    assert proc.returncode == 0, proc.stderr
    probe = json.loads(proc.stdout.strip().splitlines()[-1])
    assert probe["numpy"] and probe["models"]  # numpy was loaded and the config models were built
    return probe


needs_proc = pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads in /proc/self/task")


@needs_proc
def test_simulate_runs_on_one_thread_without_a_pydantic_plugin_scan(tmp_path):
    probe = run_defaults_probe(tmp_path)
    assert probe["env"] == {"OPENBLAS_NUM_THREADS": "1", "PYDANTIC_DISABLE_PLUGINS": "__all__"}
    assert probe["threads"] == 1
    assert "pydantic" not in probe["scans"]


@needs_proc
def test_the_users_own_settings_of_the_two_defaults_are_kept(tmp_path):
    probe = run_defaults_probe(tmp_path, OPENBLAS_NUM_THREADS="2", PYDANTIC_DISABLE_PLUGINS="")
    assert probe["env"] == {"OPENBLAS_NUM_THREADS": "2", "PYDANTIC_DISABLE_PLUGINS": ""}
    assert probe["threads"] >= 2  # OpenBLAS's second thread: what the default saves
    assert "pydantic" in probe["scans"]  # pydantic looked for plugins, as it does by default


def test_the_program_freezes_what_its_imports_built_and_runs_with_the_collector_on(tmp_path):
    probe = run_defaults_probe(tmp_path)
    assert probe["collector"] and probe["frozen"] > 10_000  # the modules' objects, not walked again


def test_a_library_caller_keeps_its_collector_as_it_was(tmp_path):
    import gc

    trace = tmp_path / "tiny.lwf"
    trace.write_text(TINY_LWF)
    frozen = gc.get_freeze_count()
    result = CliRunner().invoke(cli.app, ["simulate", str(trace), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert gc.isenabled() and gc.get_freeze_count() == frozen


def test_each_area_registers_exactly_the_commands_the_table_names():
    by_area: dict = {}
    for name, loader in cli.AREAS.items():
        by_area.setdefault(loader, []).append(name)
    for loader, names in by_area.items():
        assert sorted(cli.area_commands(loader())) == sorted(names), loader.__name__


def test_help_lists_every_command_and_a_typo_gets_a_suggestion():
    runner = CliRunner()
    out = runner.invoke(cli.app, ["--help"], env={"COLUMNS": "200"}).output
    assert [n for n in cli.AREAS if f" {n} " in out] == list(cli.AREAS)
    typo = runner.invoke(cli.app, ["simulat"])
    assert typo.exit_code == 2 and "Did you mean 'simulate'?" in typo.output


def test_the_summaries_are_what_each_area_says_of_its_commands():
    for name, loader in cli.AREAS.items():
        real = cli.area_commands(loader())[name]
        assert inspect.cleandoc(real.short_help or real.help or "").split("\n\n")[0] == cli.SUMMARIES[name], name
        # what else the root's help shows of a command (its panel, a hidden or deprecated one) is the Summary's too
        assert not real.hidden and not real.deprecated and not getattr(real, "rich_help_panel", None), name


def test_help_from_the_summaries_reads_as_help_from_the_loaded_areas(monkeypatch):
    runner = CliRunner()
    from_summaries = runner.invoke(cli.app, ["--help"], env={"COLUMNS": "120"})
    monkeypatch.setattr(cli.LazyAreaGroup, "format_help", TyperGroup.format_help)  # lists the real commands
    from_areas = runner.invoke(cli.app, ["--help"], env={"COLUMNS": "120"})
    assert from_summaries.exit_code == from_areas.exit_code == 0
    assert " deployment " in from_summaries.output and from_summaries.output == from_areas.output


HELP_PROBE = """
import json, sys
from galerna.cli import app
try:
    app(sys.argv[1:])
except SystemExit as e:
    code = e.code
import gc
print(json.dumps({"code": code, "modules": sorted(sys.modules), "collector": gc.isenabled(),
                  "frozen": gc.get_freeze_count()}))
"""


def test_help_and_a_typo_load_no_area(tmp_path):
    cases = ((["--help"], 0, " simulate "), (["simulat"], 2, "Did you mean 'simulate'?"), ([], 2, " view "))
    for args, code, says in cases:
        proc = subprocess.run([sys.executable, "-c", HELP_PROBE, *args], cwd=ROOT, capture_output=True, text=True,
                              env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "COLUMNS": "120"}, timeout=120)
        probe = json.loads(proc.stdout.strip().splitlines()[-1])
        assert probe["code"] == code and says in proc.stdout + proc.stderr, (args, proc.stdout, proc.stderr)
        galerna = [m for m in probe["modules"] if m.split(".")[0] == "galerna"]
        assert galerna == ["galerna", "galerna.cli"] and "numpy" not in probe["modules"], args
        assert probe["collector"] and probe["frozen"] == 0, args  # paused for no area, then back on


def test_a_group_command_resolves_through_the_lazy_table():
    result = CliRunner().invoke(cli.app, ["token", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and " create " in result.output
    assert isinstance(cli.app, typer.Typer)


def test_python_m_galerna_is_the_galerna_command():
    proc = subprocess.run([sys.executable, "-m", "galerna", "--help"], cwd=ROOT, capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "COLUMNS": "200"}, timeout=120)
    assert proc.returncode == 0 and "Usage: galerna " in proc.stdout and " simulate " in proc.stdout
