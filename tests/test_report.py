"""`galerna report`: figures and the HTML page, for a run directory and for a sweep directory.

`make_run_dir` writes a small but valid output directory (FORMATS.md) by a simple honest
schedule — FCFS gang scheduling of best-effort leases on some hosts, ARs at their exact start on
others, one lease suspended and resumed — and the test checks it with shared/tools/check_schedule.py
when that is there. The end-to-end test renders the real simulator's output."""
from __future__ import annotations

import base64
import csv
import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from galerna.report import report_run, report_sweep
from galerna.report.run_figures import gantt, load_run

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CHECKER = SHARED / "tools" / "check_schedule.py"
BLUE = SHARED / "data" / "haizea-traces" / "blue"


def make_run_dir(out: Path, n_hosts: int = 8, n_be: int = 40, n_ar: int = 4, seed: int = 1, suspend: bool = True) -> Path:
    """A valid simulation output directory with best-effort leases, ARs and one suspension."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    hosts = [f"host{i:03d}" for i in range(n_hosts)]
    ar_hosts, be_hosts = hosts[:2], hosts[2:]
    leases, allocs = [], []
    free = {h: 0.0 for h in be_hosts}
    t = 0.0
    for i in range(n_be):
        t += rng.uniform(0, 600)
        nodes = rng.choice([1, 1, 2, 3, len(be_hosts)])
        dur = rng.uniform(300, 3600)
        chosen = sorted(be_hosts, key=lambda h: free[h])[:nodes]
        start = max(t, max(free[h] for h in chosen))
        segments = [("run", start, start + dur)]
        susp = 0
        if suspend and i == n_be // 2:  # run, suspend, wait, resume, run
            a = dur / 3
            segments = [("run", start, start + a), ("suspend", start + a, start + a + 20),
                         ("resume", start + a + 1200, start + a + 1220), ("run", start + a + 1220, start + dur + 1220)]
            susp = 1
        end = segments[-1][2]
        for h in chosen:
            free[h] = end
        for n, h in enumerate(chosen):
            for act, s, e in segments:
                allocs.append({"lease_id": f"be{i}", "node": n, "host": h, "start": s, "end": e, "activity": act, "cpu": 1.0, "memory": 1024})
        leases.append({"lease_id": f"be{i}", "type": "be", "submit": t, "start_requested": "", "deadline": "", "duration": dur,
                       "real_duration": dur, "nodes": nodes, "cpu": 1.0, "memory": 1024, "preemptible": "true", "state": "done",
                       "start": start, "end": end, "wait": start - t, "bounded_slowdown": max((end - t) / max(dur, 10), 1),
                       "suspensions": susp, "hosts": ";".join(chosen)})
    for j in range(n_ar):
        s = 1800.0 + j * 5000
        dur = 3000.0
        leases.append({"lease_id": f"ar{j}", "type": "ar", "submit": 0.0, "start_requested": s, "deadline": "", "duration": dur,
                       "real_duration": dur, "nodes": 2, "cpu": 1.0, "memory": 1024, "preemptible": "false", "state": "done",
                       "start": s, "end": s + dur, "wait": s - 0.0, "bounded_slowdown": max((s + dur) / dur, 1),
                       "suspensions": 0, "hosts": ";".join(ar_hosts)})
        for n, h in enumerate(ar_hosts):
            allocs.append({"lease_id": f"ar{j}", "node": n, "host": h, "start": s, "end": s + dur, "activity": "run", "cpu": 1.0, "memory": 1024})
    leases.append({"lease_id": "ar-rej", "type": "ar", "submit": 10.0, "start_requested": 100.0, "deadline": "", "duration": 50,
                   "real_duration": 50, "nodes": 99, "cpu": 1.0, "memory": 1024, "preemptible": "false", "state": "rejected",
                   "start": "", "end": "", "wait": "", "bounded_slowdown": "", "suspensions": 0, "hosts": ""})

    with open(out / "hosts.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["host", "cpu", "memory"])
        w.writerows([h, 1.0, 1024] for h in hosts)
    for name, rows in (("leases.csv", leases), ("allocations.csv", allocs)):
        with open(out / name, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    ran = [l for l in leases if l["state"] == "done"]
    be = [l for l in ran if l["type"] == "be"]
    first = min(l["submit"] for l in leases)
    last = max(l["end"] for l in ran)
    used = sum(a["cpu"] * (a["end"] - a["start"]) for a in allocs if a["activity"] == "run")
    summary = {
        "leases": len(leases), "done": len(ran), "rejected": 1, "be_done": len(be), "ar_requested": n_ar + 1,
        "ar_accepted": n_ar, "im_requested": 0, "im_accepted": 0,
        "mean_wait": sum(l["wait"] for l in be) / len(be),
        "mean_bounded_slowdown": sum(l["bounded_slowdown"] for l in be) / len(be),
        "utilization": used / (n_hosts * (last - first)), "all_best_effort": max(l["end"] for l in be),
        "makespan": last - first, "wall_seconds": 0.01,
    }
    (out / "summary.json").write_text(json.dumps(summary))
    return out


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def _check_page(index: Path, expect_pngs: list[str]) -> str:
    text = index.read_text()
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    for name in expect_pngs:
        assert f"href='{name}'" in text, f"page does not link {name}"
        png = index.parent / name
        w, h = _png_size(png)
        assert 600 <= w <= 3000 and 300 <= h <= 2500, f"{name}: odd size {w}x{h}"
        assert png.stat().st_size > 10_000, f"{name} is nearly empty ({png.stat().st_size} bytes)"
    # self-contained: every image is embedded, nothing is fetched
    images = re.findall(r"<img src='([^']+)'", text)
    assert len(images) == len(expect_pngs)
    for src in images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:4] == b"\x89PNG"
    assert "http://" not in text and "https://" not in text and "<script" not in text
    return text


def test_generated_run_dir_is_valid(tmp_path):
    run = make_run_dir(tmp_path / "run")
    if not CHECKER.exists():
        pytest.skip(f"{CHECKER} is absent")
    r = subprocess.run([sys.executable, str(CHECKER), str(run)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_report_of_a_run(tmp_path):
    run = make_run_dir(tmp_path / "run")
    index = report_run(run)
    assert index == run / "report" / "index.html"
    text = _check_page(index, ["gantt.png", "utilization_queue.png", "waits.png"])
    assert "mean_bounded_slowdown" in text  # the summary table
    data = load_run(run)
    assert len(data.lease_ids) == 45 and len(data.hosts) == 8
    assert int((data.a_activity == "suspend").sum()) >= 1


def test_gantt_aggregates_large_runs(tmp_path):
    """Thousands of rows on hundreds of hosts: merged to at most max_bars and grouped into lanes."""
    run = make_run_dir(tmp_path / "big", n_hosts=400, n_be=3000, n_ar=30, seed=3)
    data = load_run(run)
    info = gantt(data, tmp_path / "g.png", max_bars=2000, max_lanes=100)
    assert info["rows"] > 5000 and info["aggregated"] and info["bars"] == 0
    assert info["hosts_per_lane"] == 4 and info["lanes"] == 100
    assert info["suspensions"] == 1
    w, h = _png_size(tmp_path / "g.png")
    assert w >= 1000 and h >= 400
    exact = gantt(data, tmp_path / "g2.png", max_bars=10**7, max_lanes=1000)
    assert not exact["aggregated"] and exact["bars"] == exact["rows"]  # every row drawn when allowed


def test_lane_occupancy_is_exact():
    from galerna.report.run_figures import lane_occupancy
    import numpy as np

    # lane 0 busy [0, 50) with 1 cpu, lane 1 busy [25, 100) with 2 cpus; 4 bins of 25 s
    occ = lane_occupancy(np.array([0, 1]), np.array([0.0, 25.0]), np.array([50.0, 100.0]), np.array([1.0, 2.0]), 2, 0.0, 100.0, 4)
    assert occ.tolist() == [[1.0, 1.0, 0.0, 0.0], [0.0, 2.0, 2.0, 2.0]]


def test_report_of_a_sweep(tmp_path):
    from galerna.sweep import results as res

    rows = []
    for profile, k in (("nosusp", 1.0), ("susp", 0.8)):
        for share in (0, 10, 20):
            for rep in range(2):
                rows.append({"run_id": f"{profile}-{share}-{rep}", "profile": profile, "trace": "t", "injection": f"work_{share:02d}" if share else "none",
                             "injection_paths": f"/x/work_{share:02d}.lwf" if share else "", "ar_share": float(share), "status": "done",
                             "run_wall_seconds": 1.0 + rep, "all_best_effort": 1000 * (1 + k * share / 100 + rep * 0.01),
                             "mean_wait": 100.0 * (1 + share * k), "mean_bounded_slowdown": 1 + share / 10 * k,
                             "ar_requested": 10 if share else 0, "ar_accepted": int(10 * k) if share else 0, "utilization": 0.5 + share / 100,
                             "out_dir": str(tmp_path / "runs" / f"{profile}-{share}-{rep}")})
    rows.append({"run_id": "broken", "profile": "susp", "trace": "t", "injection": "work_30", "ar_share": 30.0, "status": "failed",
                 "error": "ValueError: bad line 3", "out_dir": str(tmp_path / "runs" / "broken")})
    res.write_table(res.add_derived(rows), tmp_path)
    index = report_sweep(tmp_path)
    pngs = ["sweep_overview.png"] + [f"sweep_{c}.png" for c in ("all_best_effort_rel", "mean_wait", "mean_bounded_slowdown", "ar_acceptance", "utilization", "run_wall_seconds")]
    text = _check_page(index, pngs)
    assert "ValueError: bad line 3" in text  # the failed run is reported
    assert "Headline" in text and "nosusp" in text


def test_report_command_rejects_other_dirs(tmp_path):
    from galerna.report.command import register
    import typer

    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)
    r = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert r.exit_code == 2 and "neither" in r.output


def _simulate():
    try:
        from galerna.sim.run import simulate
    except ImportError as e:
        pytest.skip(f"the simulator (galerna.sim.run.simulate) is not there yet: {e}")
    return simulate


def test_report_of_a_real_simulation(tmp_path):
    """The real simulator on a Blue Horizon excerpt with injected ARs and suspension, then `galerna report`."""
    simulate = _simulate()
    if not (BLUE / "30days.swf").exists():
        pytest.skip(f"{BLUE} is absent")
    from galerna.config.schema import Config
    from galerna.report.command import register
    import typer

    lines = [l for l in (BLUE / "30days.swf").read_text().splitlines() if l.strip() and not l.startswith(";")][:300]
    trace = tmp_path / "excerpt.swf"
    trace.write_text("\n".join(lines) + "\n")
    inj = tmp_path / "work_20-dur_2h-size_2medium.lwf"
    inj.write_text("\n".join((BLUE / "injected_leases/30days/work_20-dur_2h-size_2medium.lwf").read_text().splitlines()[:6]) + "\n")
    cfg = Config.model_validate({"site": {"nodes": 144, "cpu": 1, "memory": 1024}, "scheduling": {"suspension": "all", "suspend_rate": 50, "resume_rate": 50}})
    run = tmp_path / "run"
    simulate(trace, cfg, run, inject=[inj], progress=False)
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)
    r = CliRunner().invoke(app, ["report", str(run)])
    assert r.exit_code == 0, r.output
    _check_page(run / "report" / "index.html", ["gantt.png", "utilization_queue.png", "waits.png"])


def test_sweep_metric_spanning_decades_gets_a_log_axis():
    import matplotlib.pyplot as plt
    from galerna.report.sweep_figures import _plot_metric

    def rows(slow: float):
        return [{"profile": p, "ar_share": float(s), "status": "done", "mean_wait": w * (1 + s / 100)}
                for p, w in (("fast", 100.0), ("slow", slow)) for s in (0, 10, 20)]

    for slow, scale in ((200.0, "linear"), (100_000.0, "log")):
        fig, ax = plt.subplots()
        assert _plot_metric(ax, rows(slow), "mean_wait", "t", "seconds", None)
        assert ax.get_yscale() == scale, slow
        plt.close(fig)
    fig, ax = plt.subplots()  # a zero cannot go on a log axis
    zero = rows(100_000.0) + [{"profile": "idle", "ar_share": 0.0, "status": "done", "mean_wait": 0.0}]
    _plot_metric(ax, zero, "mean_wait", "t", "seconds", None)
    assert ax.get_yscale() == "linear"
    plt.close(fig)
