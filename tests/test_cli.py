"""`galerna simulate` as a user runs it."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from galerna.cli import app
from helpers import check

runner = CliRunner()


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    """One `galerna simulate` of the embedded default workload, read by the tests below (none writes to it)."""
    out = tmp_path_factory.mktemp("default") / "out"
    return out, runner.invoke(app, ["simulate", "--out", str(out), "--no-progress"])


def test_simulate_embedded_default_writes_a_valid_output(default_run):
    out, res = default_run
    assert res.exit_code == 0, res.output
    assert "Simulation summary" in res.output
    for name in ("hosts.csv", "leases.csv", "allocations.csv", "summary.json", "queue.csv"):
        assert (out / name).stat().st_size > 0
    summary = json.loads((out / "summary.json").read_text())
    # The default workload holds every lease type.
    for k in ("be_requested", "ar_requested", "im_requested", "deadline_requested"):
        assert summary[k] > 0, k
    # starvation is visible on the console, not only in summary.json
    assert f"lease {summary['longest_wait_lease']}" in res.output
    n = summary["most_preemptions"]
    assert f"lease {summary['most_preempted_lease']}, {n} time{'' if n == 1 else 's'}" in res.output
    check(out, summary["leases"])


def test_simulate_is_deterministic(default_run, tmp_path):
    a, first = default_run
    b = tmp_path / "b"
    assert first.exit_code == 0 and runner.invoke(app, ["simulate", "--out", str(b), "--no-progress"]).exit_code == 0
    assert (a / "allocations.csv").read_text() == (b / "allocations.csv").read_text()


def test_set_overrides_reach_the_scheduler(tmp_path):
    out = tmp_path / "o"
    res = runner.invoke(app, ["simulate", "--out", str(out), "--no-progress", "--set", "scheduling.suspension=none"])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "summary.json").read_text())["suspensions"] == 0


def test_bad_trace_line_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.swf"
    bad.write_text("; comment\n1 0 5 100 1 -1 -1 1 100 -1 1 1 1 -1 1 -1 -1 -1\n2 10 x 100\n")
    res = runner.invoke(app, ["simulate", str(bad), "--out", str(tmp_path / "o"), "--no-progress"])
    assert res.exit_code == 2
    assert f"{bad}:3" in res.output


def test_bad_option_names_the_field(tmp_path):
    res = runner.invoke(app, ["simulate", "--out", str(tmp_path / "o"), "--set", "scheduling.backfilling=sideways"])
    assert res.exit_code == 2
    assert "scheduling.backfilling" in res.output


def test_simulate_a_trace_with_injection_from_the_console_script(traces_dir, tmp_path):
    exe = Path(sys.executable).parent / "galerna"
    out = tmp_path / "o"
    proc = subprocess.run([str(exe), "simulate", str(traces_dir / "blue" / "150requests.swf"),
                           "--inject", str(traces_dir / "multi" / "inj1.lwf"), "--set", "site.nodes=144",
                           "--out", str(out), "--no-progress"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    check(out)
