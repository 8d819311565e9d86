"""`galerna report RUN_DIR|SWEEP_DIR`: PNG figures and one self-contained HTML page."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer


def report(
    path: Path = typer.Argument(..., exists=True, file_okay=False, help="a simulation output directory or a sweep output directory"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="where to write the figures and index.html (default: PATH/report)"),
    runs: bool = typer.Option(False, "--runs", help="for a sweep: also a report of every finished run, linked from the table"),
    max_bars: int = typer.Option(20000, "--max-bars", min=100, help="Gantt chart: merge bars until at most this many are drawn"),
) -> None:
    """Figures (PNG) and an HTML page of a run (Gantt, utilization, queue, waits) or of a sweep
    (each metric against AR share, one line per profile)."""
    from galerna.report.build import report as build

    t0 = time.perf_counter()
    try:
        index = build(path, out, runs=runs, max_bars=max_bars)
    except FileNotFoundError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2)
    pngs = sorted(index.parent.glob("*.png"))
    for p in pngs:
        typer.echo(f"{p}  ({p.stat().st_size / 1024:.0f} KiB)")
    typer.echo(f"{index}  ({len(pngs)} figures, {time.perf_counter() - t0:.1f} s)")


def register(app: typer.Typer) -> None:
    app.command("report")(report)
