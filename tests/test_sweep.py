"""`galerna sweep`: the sweep file, runs on Dask, resumability, failures, the results table.

The first tests use a stand-in simulator (a valid output directory from test_report.make_run_dir,
named in the sweep file's `simulator` key) so that the sweep machinery is tested on its own; the
end-to-end test runs the real `galerna.sim.run.simulate` on an excerpt of the Blue Horizon trace.
"""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from galerna.sweep import results as res
from galerna.sweep.runner import DONE_MARKER, ERROR_FILE, run_sweep
from galerna.sweep.spec import SweepError, ar_share, deep_merge, load_sweep, parse_sweep

from test_report import BLUE, CHECKER, REPO, make_run_dir

CALLS: list[str] = []


def fake_simulate(trace, config, out_dir, inject=(), progress=False):
    """Stand-in for galerna.sim.run.simulate: a valid directory whose metrics depend on the inputs."""
    CALLS.append(str(out_dir))
    text = Path(trace).read_text()  # a missing or unreadable trace fails like the real one would
    if "garbage" in text:
        raise ValueError(f"{trace}: line 1: not an SWF record")
    n_ar = sum(len(Path(p).read_text().splitlines()) for p in inject)
    make_run_dir(Path(out_dir), n_hosts=config.site.nodes, n_be=10, n_ar=0, suspend=config.scheduling.suspension != "none")
    summary = json.loads((Path(out_dir) / "summary.json").read_text())
    summary.update(ar_requested=n_ar, ar_accepted=n_ar // 2, all_best_effort=1000.0 * (1 + 0.01 * n_ar), queue_series=[1, 2, 3], nested={"x": 1})
    (Path(out_dir) / "summary.json").write_text(json.dumps(summary))
    return summary


def _write_inputs(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    (data / "inj").mkdir(parents=True)
    (data / "trace.swf").write_text("1 0 0 100 1 -1 -1 1 100 -1 1 1 -1 -1 1 -1 -1 -1\n")
    (data / "inj" / "work_10-dur_1h-size_1small.lwf").write_text("0 100 3600 3600 2 1 1024 0 'NONE.img' 600\n" * 2)
    (data / "inj" / "work_20-dur_1h-size_1small.lwf").write_text("0 100 3600 3600 2 1 1024 0 'NONE.img' 600\n" * 4)
    return data


SWEEP = """
[sweep]
name = "tiny"
simulator = "test_sweep:fake_simulate"
traces = ["${DATA}/trace.swf"]
injections = ["none", "${DATA}/inj/*.lwf", "${DATA}/inj/work_30-missing.lwf"]

[vars]
DATA = "data"

[base.site]
nodes = 6

[profiles.nosusp]
description = "ARs cancel and requeue"
scheduling = { suspension = "none" }

[profiles.susp]
scheduling = { suspension = "all", suspend_rate = 50, resume_rate = 50 }
"""


def test_spec_combinations_and_profiles(tmp_path):
    data = _write_inputs(tmp_path)
    (tmp_path / "s.toml").write_text(SWEEP)
    spec = load_sweep(tmp_path / "s.toml")
    assert spec.traces == [str(data / "trace.swf")]
    assert spec.injections[0] == () and len(spec.injections) == 4
    assert spec.descriptions["nosusp"] == "ARs cancel and requeue"
    tasks = spec.tasks(tmp_path / "out")
    assert len(tasks) == 2 * 1 * 4
    assert len({t.run_id for t in tasks}) == 8
    by = {(t.profile, t.injection_label): t for t in tasks}
    t = by[("susp", "work_20-dur_1h-size_1small")]
    assert t.ar_share == 20 and t.meta == {"ar_duration_h": 1.0, "ar_size": "small"}
    assert t.config["scheduling"]["suspend_rate"] == 50 and t.config["site"]["nodes"] == 6
    assert by[("nosusp", "none")].config["scheduling"]["suspension"] == "none"
    assert by[("nosusp", "none")].ar_share == 0
    assert Path(t.out_dir).parent == (tmp_path / "out" / "runs").resolve()


def test_spec_errors_and_helpers(tmp_path):
    assert deep_merge({"a": {"b": 1, "c": 2}}, {"a": {"c": 3}, "d": 4}) == {"a": {"b": 1, "c": 3}, "d": 4}
    assert ar_share(["/x/work_05-dur_1h-size_1small.lwf"]) == 5 and ar_share([]) == 0
    with pytest.raises(SweepError, match="profile 'bad'"):
        parse_sweep({"profiles": {"bad": {"scheduling": {"suspension": "sometimes"}}}}, tmp_path / "s.toml")
    with pytest.raises(SweepError, match="unknown variable"):
        parse_sweep({"sweep": {"traces": ["${NOPE}/x.swf"]}}, tmp_path / "s.toml")
    with pytest.raises(SweepError, match="matches no file"):
        parse_sweep({"sweep": {"traces": [str(tmp_path / "*.swf")]}}, tmp_path / "s.toml")
    # the study file parses, with ${SHARED} resolved next to the repository
    if (BLUE / "30days.swf").exists():
        spec = load_sweep(REPO / "studies" / "hpdc2008.toml")
        tasks = spec.tasks(tmp_path / "study")
        assert len(spec.injections) == 73 and len(spec.profiles) == 5 and len(tasks) == 365
        assert sorted({t.ar_share for t in tasks}) == [0, 5, 10, 15, 20, 25, 30]
        for t in tasks:
            assert t.config["site"] == {"nodes": 144, "cpu": 1.0, "memory": 1024.0, "extra": {}}
        # The no-AR baselines run first, then the heaviest injections: 30 %, large, 4 h.
        from galerna.sweep.runner import run_order

        ordered = sorted(tasks, key=run_order)
        assert {t.ar_share for t in ordered[:5]} == {0} and len({t.profile for t in ordered[:5]}) == 5
        assert ordered[5].run_id.endswith("work_30-dur_4h-size_3large")
        assert ordered[-1].run_id.endswith("work_05-dur_1h-size_1small")


def test_sweep_runs_resumes_and_reports_failures(tmp_path):
    data = _write_inputs(tmp_path)
    (tmp_path / "s.toml").write_text(SWEEP)
    spec = load_sweep(tmp_path / "s.toml")
    out = tmp_path / "out"
    seen = []
    result = run_sweep(spec, out, workers=2, processes=False, progress=False, on_row=seen.append)
    assert result.ran == 8 and result.skipped == 0 and len(seen) == 8
    failed = result.failed
    assert [r["injection"] for r in failed] == ["work_30-missing", "work_30-missing"]
    assert all("FileNotFoundError" in r["error"] for r in failed)
    assert all("Traceback" in (Path(r["out_dir"]) / ERROR_FILE).read_text() for r in failed)
    done = [r for r in result.rows if r["status"] == "done"]
    assert len(done) == 6
    assert all((Path(r["out_dir"]) / DONE_MARKER).is_file() for r in done)

    # the table: CSV and Parquet, one row per run, metrics flattened, relative completion time
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert len(rows) == 8
    assert {"profile", "trace", "injection", "ar_share", "status", "error", "out_dir", "mean_wait", "all_best_effort", "nested.x"} <= set(rows[0])
    assert "queue_series" not in rows[0]
    import pyarrow.parquet as pq

    table = pq.read_table(out / "results.parquet")
    assert table.num_rows == 8 and table.schema.field("ar_share").type == "double"
    rel = {(r["profile"], r["injection"]): r["all_best_effort_rel"] for r in rows}
    assert float(rel[("susp", "none")]) == 1.0
    assert float(rel[("susp", "work_20-dur_1h-size_1small")]) == pytest.approx(1.04)
    head = {(h["profile"], h["ar_share"]): h for h in result.headline}
    assert head[("nosusp", 10.0)]["ar_acceptance"] == 0.5
    assert ("nosusp", 30.0) not in head  # failed runs are left out of the headline

    # resumable: only the failed runs run again, finished ones are kept as they are
    marker = Path(done[0]["out_dir"]) / DONE_MARKER
    before = marker.stat().st_mtime_ns
    CALLS.clear()
    again = run_sweep(spec, out, workers=1, processes=False, progress=False)
    assert again.skipped == 6 and again.ran == 2 and len(CALLS) == 2
    assert marker.stat().st_mtime_ns == before
    assert sum(1 for r in again.rows if r.get("cached")) == 6

    # fix the missing file: the re-run finishes the sweep
    (data / "inj" / "work_30-missing.lwf").write_text("0 100 3600 3600 2 1 1024 0 'NONE.img' 600\n")
    third = run_sweep(spec, out, workers=1, processes=False, progress=False)
    assert third.ran == 2 and not third.failed and len(third.rows) == 8

    # a changed profile invalidates its runs only
    spec.profiles["susp"]["scheduling"]["suspend_rate"] = 60
    CALLS.clear()
    fourth = run_sweep(spec, out, workers=1, processes=False, progress=False)
    assert fourth.ran == 4 and len(CALLS) == 4 and all("susp--" in c for c in CALLS)


def test_sweep_on_an_existing_scheduler_and_command(tmp_path):
    """`--scheduler ADDRESS` uses a cluster that is already there; the command prints one line per
    run, the wall times, and exits 1 when a run failed."""
    from distributed import LocalCluster

    from galerna.sweep.command import register

    _write_inputs(tmp_path)
    (tmp_path / "s.toml").write_text(SWEEP.replace('"none", "${DATA}/inj/*.lwf", ', '"none", '))
    # the trace of one run is garbage: it fails while the other finishes
    (tmp_path / "s.toml").write_text((tmp_path / "s.toml").read_text().replace('traces = ["${DATA}/trace.swf"]', 'traces = ["${DATA}/trace.swf", "${DATA}/garbage.swf"]'))
    (tmp_path / "data" / "garbage.swf").write_text("garbage\n")
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0") as cluster:
        r = CliRunner().invoke(app, ["sweep", str(tmp_path / "s.toml"), "--out", str(tmp_path / "out"), "--scheduler", cluster.scheduler_address])
    assert r.exit_code == 1, r.output
    assert "total wall time" in r.output and "per run: mean" in r.output
    lines = r.output.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("run time per profile:"))
    assert [line.split()[0] for line in lines[head + 1:head + 4]] == ["nosusp", "susp", "all"]  # the one run each
    assert "FAILED" in r.output and "not an SWF record" in r.output
    rows = res.read_table(tmp_path / "out")
    status = {(r["trace"], r["injection"], r["profile"]): r["status"] for r in rows}
    assert len(rows) == 8
    assert {k for k, v in status.items() if v == "done"} == {("trace", "none", "nosusp"), ("trace", "none", "susp")}

    r = CliRunner().invoke(app, ["sweep", str(tmp_path / "s.toml"), "--out", str(tmp_path / "out"), "--dry-run"])
    assert r.exit_code == 0 and r.output.count("done\t") == 2 and r.output.count("todo\t") == 6


def _simulate():
    try:
        from galerna.sim.run import simulate  # noqa: F401
    except ImportError as e:
        pytest.skip(f"the simulator (galerna.sim.run.simulate) is not there yet: {e}")


def test_small_sweep_end_to_end_with_the_simulator(tmp_path):
    """A Blue Horizon excerpt x (no injection, one tiny injection file, one missing file) x 2 profiles
    with the real simulator on a LocalCluster; every run directory passes the independent checker;
    a re-run skips everything finished; `galerna report` renders the sweep and a run."""
    _simulate()
    if not (BLUE / "30days.swf").exists():
        pytest.skip(f"{BLUE} is absent")
    from galerna.report.build import report_run, report_sweep
    from galerna.sweep.command import register

    data = tmp_path / "data"
    data.mkdir()
    lines = [l for l in (BLUE / "30days.swf").read_text().splitlines() if l.strip() and not l.startswith(";")][:200]
    (data / "excerpt.swf").write_text("\n".join(lines) + "\n")
    inj_lines = (BLUE / "injected_leases/30days/work_20-dur_2h-size_2medium.lwf").read_text().splitlines()
    (data / "work_20-dur_2h-size_2medium.lwf").write_text("\n".join(inj_lines[:5]) + "\n")
    (tmp_path / "s.toml").write_text(
        """
[sweep]
name = "e2e"
traces = ["data/excerpt.swf"]
injections = ["none", "data/work_20-dur_2h-size_2medium.lwf", "data/work_10-absent.lwf"]
[base.site]
nodes = 144
cpu = 1
memory = 1024
[profiles.nosusp]
scheduling = { suspension = "none" }
[profiles.susp50]
scheduling = { suspension = "all", suspend_rate = 50, resume_rate = 50 }
"""
    )
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)
    out = tmp_path / "out"
    args = ["sweep", str(tmp_path / "s.toml"), "--out", str(out), "--workers", "2", "--threads"]
    r = CliRunner().invoke(app, args)
    print(r.output)
    assert r.exit_code == 1, r.output  # the absent file's runs fail ...
    rows = res.read_table(out)
    assert len(rows) == 6
    done = [x for x in rows if x["status"] == "done"]
    failed = [x for x in rows if x["status"] == "failed"]
    assert len(done) == 4 and {x["injection"] for x in failed} == {"work_10-absent"}  # ... the others finish
    for x in done:
        assert x["leases"] >= 150 and x["mean_wait"] is not None and x["run_wall_seconds"] > 0
        if CHECKER.exists():
            chk = subprocess.run([sys.executable, str(CHECKER), x["out_dir"]], capture_output=True, text=True)
            assert chk.returncode == 0, chk.stdout
    inj = [x for x in done if x["ar_share"] == 20]
    assert len(inj) == 2 and all(x["ar_requested"] == 5 for x in inj)
    assert all(x["all_best_effort_rel"] is not None for x in done)
    from galerna.sweep import runner

    # the workers (threads of this process) read the trace and the injection file through the process's cache
    read = {Path(f).name for f in runner.worker_workloads().files()}
    assert {"excerpt.swf", "work_20-dur_2h-size_2medium.lwf"} <= read

    r2 = CliRunner().invoke(app, args)
    assert "4 already done" in r2.output, r2.output
    assert "2 run now" in r2.output

    index = report_sweep(out)
    assert (index.parent / "sweep_overview.png").stat().st_size > 10_000
    page = report_run(Path(done[-1]["out_dir"]))
    assert (page.parent / "gantt.png").stat().st_size > 10_000


def _minor_faults_of_1mib_arrays(n: int = 200) -> int:
    """Page faults of ``n`` 1 MiB numpy temporaries, allocated and freed one after the other in
    the calling thread (like the slot table's reductions): about none when glibc reuses its heap,
    about 256 per array when each one is mmap'ed and munmap'ed again."""
    import resource

    import numpy as np

    a = np.ones(1 << 17)  # warm-up: the first free raises glibc's dynamic mmap threshold
    del a
    before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
    for _ in range(n):
        a = np.ones(1 << 17)
        del a
    return resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc and RUSAGE_THREAD")
def test_sweep_workers_keep_glibc_malloc_defaults(monkeypatch):
    """Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which turns off glibc's
    dynamic mmap threshold: every numpy temporary over 128 KiB is then mmap'ed, faulted in page by
    page and unmapped, and a study run spent 10 s of system time (against 0.1–1 s standalone).
    The sweep's LocalCluster starts its workers without it: a task allocates like `galerna simulate`."""
    import os
    import platform

    from galerna.sweep.runner import _client

    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)  # not from this shell nor an earlier nanny
    client, cluster = _client(None, 1, True, 1)
    try:
        assert set(client.run(os.getenv, "MALLOC_TRIM_THRESHOLD_").values()) == {None}
        if platform.libc_ver()[0] == "glibc":
            faults = client.submit(_minor_faults_of_1mib_arrays, pure=False).result()
            assert faults < 200 * 256 / 10, faults  # not one mmap per temporary
    finally:
        client.close()
        cluster.close()
    assert "MALLOC_TRIM_THRESHOLD_" not in os.environ  # nor left in this process for later workers


def test_sweep_workers_run_without_dasks_profiler():
    """Dask's profiler samples the running task's stack every 10 ms (~3-5 % of a run's CPU); the sweep's
    LocalCluster workers, spawned by their nannies with the sweep's Dask settings, do not run it."""
    from galerna.sweep.runner import _client

    client, cluster = _client(None, 1, True, 1)
    try:
        callbacks = client.run(lambda dask_worker: sorted(dask_worker.periodic_callbacks))
        assert callbacks and all("heartbeat" in c and "profile" not in c for c in callbacks.values()), callbacks
    finally:
        client.close()
        cluster.close()


def test_study_waits_tabulates_profiles_and_compares_variants(tmp_path):
    """benchmarks/study_waits.py (issue 14's before/after tables): per-profile p99 and longest waits recomputed
    from leases.csv, and a `BASE-VARIANT` profile compared run by run with `BASE` (which runs differ)."""
    import math

    sys.path.insert(0, str(REPO / "benchmarks"))
    import study_waits

    out = tmp_path / "sweep"
    for profile, seed in (("p", 1), ("p-variant", 2)):
        for inj in ("none", "work_10-x", "work_20-y"):
            run = make_run_dir(out / "runs" / f"{profile}--t--{inj}", n_be=30, seed=seed if inj == "work_20-y" else 1)
            summary = json.loads((run / "summary.json").read_text())
            summary.update(ar_requested=4, ar_accepted=3 if (profile, inj) == ("p", "work_20-y") else 4, most_preemptions=seed)
            (run / "summary.json").write_text(json.dumps(summary))
    (out / "runs" / "p--t--unfinished").mkdir()  # no summary yet: ignored
    runs = study_waits.load(out)
    assert set(runs) == {"p", "p-variant"} and set(runs["p"]) == {"none", "work_10-x", "work_20-y"}
    with open(out / "runs" / "p--t--work_20-y" / "leases.csv", newline="") as f:
        waits = sorted(float(r["wait"]) for r in csv.DictReader(f) if r["type"] == "be")
    fig = runs["p"]["work_20-y"]
    assert fig["max_wait"] == waits[-1] and fig["p99_wait"] == waits[math.ceil(0.99 * len(waits)) - 1]
    assert math.isclose(fig["mean_wait"], sum(waits) / len(waits)) and fig["ar_acceptance"] == 0.75
    assert runs["p"]["work_10-x"]["ar_acceptance"] == 1.0 == runs["p-variant"]["work_20-y"]["ar_acceptance"]
    assert runs["p"]["work_10-x"]["digest"] == runs["p-variant"]["work_10-x"]["digest"]  # same seed: same schedule
    assert runs["p"]["work_20-y"]["digest"] != runs["p-variant"]["work_20-y"]["digest"]
    r = subprocess.run([sys.executable, str(REPO / "benchmarks" / "study_waits.py"), str(out), "--markdown"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    pair = next(line for line in r.stdout.splitlines() if line.startswith("| p-variant → p |"))
    assert pair.startswith("| p-variant → p | 2 (1 differ) |") and pair.endswith("| 100.0 % → 87.5 % |"), pair
    bad = subprocess.run([sys.executable, str(REPO / "benchmarks" / "study_waits.py"), str(tmp_path)],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "not a sweep's output" in bad.stderr
