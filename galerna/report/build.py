"""Build the report of a run directory or of a sweep directory."""
from __future__ import annotations

import html
import json
import time
from datetime import datetime
from pathlib import Path

from galerna.report import html as page


def is_run_dir(path: Path) -> bool:
    return (path / "summary.json").is_file() and (path / "allocations.csv").is_file()


def is_sweep_dir(path: Path) -> bool:
    return (path / "results.csv").is_file() or (path / "results.parquet").is_file()


def view_hint(run_dir: Path) -> str:
    """How to open this run's schedule, zoomable, in the browser (`galerna view`)."""
    from shlex import quote

    # as text, not a link: the page stays self-contained (nothing on it points outside it)
    return (f"<p>To zoom from the whole run down to a minute and see every lease: "
            f"<code>galerna view {html.escape(quote(str(run_dir.resolve())))}</code>, then open the address it "
            f"prints (127.0.0.1:7071 by default) in a browser.</p>")


def report_run(run_dir: Path, out_dir: Path | None = None, max_bars: int = 20000) -> Path:
    """Figures and index.html of one simulation output directory; returns the page's path."""
    from galerna.report.run_figures import run_figures

    run_dir = Path(run_dir)
    out_dir = Path(out_dir) if out_dir else run_dir / "report"
    t0 = time.perf_counter()
    figs = run_figures(run_dir, out_dir, max_bars=max_bars)
    summary = json.loads((run_dir / "summary.json").read_text())
    before = [("Summary", page.kv_table(summary)), ("Interactive timeline", view_hint(run_dir))]
    task = run_dir / "task.json"
    sections = []
    if task.is_file():
        t = json.loads(task.read_text())
        desc = [("profile", t.get("profile")), ("trace", t.get("trace")), ("injections", "; ".join(t.get("injections") or []) or "none")]
        before.insert(0, ("Run", page.table_html([{"what": k, "value": v} for k, v in desc], ["what", "value"])))
        sections.append(("Configuration", f"<pre>{html.escape(json.dumps(t.get('config'), indent=2))}</pre>"))
    err = run_dir / "error.txt"
    if err.is_file():
        before.insert(0, ("Error", f"<pre>{html.escape(err.read_text())}</pre>"))
    return page.write_page(
        out_dir,
        f"Galerna run: {run_dir.resolve().name}",
        f"{run_dir.resolve()} — report made {datetime.now():%Y-%m-%d %H:%M} in {time.perf_counter() - t0:.1f} s",
        figs,
        sections,
        before_figures=before,
    )


def report_sweep(sweep_dir: Path, out_dir: Path | None = None, runs: bool = False, max_bars: int = 20000) -> Path:
    """Figures (metrics against AR share, one line per profile) and index.html of a sweep directory.
    With ``runs``, also each finished run's own report, linked from the table."""
    from galerna.report.sweep_figures import sweep_figures
    from galerna.sweep import results as res

    sweep_dir = Path(sweep_dir)
    out_dir = Path(out_dir) if out_dir else sweep_dir / "report"
    t0 = time.perf_counter()
    rows = res.read_table(sweep_dir)
    figs = sweep_figures(rows, out_dir)
    head = res.headline(rows)
    spec = {}
    if (sweep_dir / "sweep.json").is_file():
        spec = json.loads((sweep_dir / "sweep.json").read_text())

    for r in rows:
        run_dir = Path(str(r.get("out_dir") or ""))
        r["run"] = r.get("run_id")
        if runs and r.get("status") == "done" and is_run_dir(run_dir):
            report_run(run_dir, run_dir / "report", max_bars=max_bars)
        if (run_dir / "report" / "index.html").is_file():
            r["href"] = (run_dir / "report" / "index.html").resolve().as_uri()
        elif run_dir.is_dir():
            r["href"] = run_dir.resolve().as_uri()

    n_done = sum(1 for r in rows if r.get("status") == "done")
    failed = [r for r in rows if r.get("status") == "failed"]
    walls = [r["run_wall_seconds"] for r in rows if isinstance(r.get("run_wall_seconds"), (int, float))]
    before = []
    if head:
        cols = ["profile", "ar_share", "runs"] + [c for c, _, _ in res.HEADLINE_METRICS]
        heads = {"ar_share": "AR share (%)"} | {c: h for c, h, _ in res.HEADLINE_METRICS}
        fmts = {c: f for c, _, f in res.HEADLINE_METRICS} | {"ar_share": "{:g}"}
        before.append(("Headline: mean per profile and AR share", page.table_html(head, cols, heads, fmts)))
    if spec.get("profiles"):
        prof_rows = [
            {"profile": p, "description": spec.get("descriptions", {}).get(p, ""), "overrides": json.dumps(o, sort_keys=True)}
            for p, o in spec["profiles"].items()
        ]
        before.append(("Profiles", page.table_html(prof_rows, ["profile", "description", "overrides"])))
    if failed:
        before.append(("Failed runs", page.table_html(failed, ["run", "error", "out_dir"], links={"run": "href"})))
    detail_cols = [c for c in ["run", "profile", "trace", "injection", "ar_share", "status", "run_wall_seconds", "all_best_effort_rel",
                               "mean_wait", "mean_bounded_slowdown", "ar_acceptance", "utilization", "error"] if any(c in r for r in rows)]
    table = page.table_html(rows, detail_cols, links={"run": "href"})
    sections = [("All runs", f"<details open><summary>{len(rows)} runs (the full table is in results.csv / results.parquet)</summary>{table}</details>")]
    subtitle = (
        f"{sweep_dir.resolve()} — {len(rows)} runs, {n_done} done, {len(failed)} failed"
        + (f", simulation wall time {sum(walls):,.1f} s in all" if walls else "")
        + f" — report made {datetime.now():%Y-%m-%d %H:%M} in {time.perf_counter() - t0:.1f} s"
    )
    return page.write_page(out_dir, f"Galerna sweep: {spec.get('name') or sweep_dir.resolve().name}", subtitle, figs, sections, before_figures=before)


def report(path: Path, out_dir: Path | None = None, runs: bool = False, max_bars: int = 20000) -> Path:
    path = Path(path)
    if is_sweep_dir(path):
        return report_sweep(path, out_dir, runs=runs, max_bars=max_bars)
    if is_run_dir(path):
        return report_run(path, out_dir, max_bars=max_bars)
    raise FileNotFoundError(f"{path} is neither a run directory (summary.json, allocations.csv) nor a sweep directory (results.csv)")
