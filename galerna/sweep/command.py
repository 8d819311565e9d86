"""`galerna sweep SWEEP.toml --out DIR`: run every trace x injection x profile combination on Dask."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def _fmt(v, spec: str) -> str:
    return "–" if v is None else spec.format(v)


def sweep(
    sweep_file: Path = typer.Argument(..., exists=True, dir_okay=False, help="the sweep TOML file"),
    out: Path = typer.Option(..., "--out", "-o", help="output directory (re-running it resumes: finished runs are kept)"),
    scheduler: Optional[str] = typer.Option(
        None, "--scheduler", help="address of an existing Dask scheduler, e.g. tcp://host:8786 (default: a LocalCluster)"
    ),
    workers: Optional[int] = typer.Option(None, "--workers", "-w", min=1, help="LocalCluster workers (default: one per core)"),
    threads: bool = typer.Option(False, "--threads", help="LocalCluster workers as threads of this process, not processes"),
    only: Optional[list[str]] = typer.Option(None, "--only", help="run only the run ids containing this text (repeatable)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="list the runs and exit"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar and no line per run"),
) -> None:
    """Run a sweep: every combination is one Dask task; results go to OUT/results.{csv,parquet}."""
    from rich.console import Console
    from rich.table import Table

    from galerna.sweep import results as res
    from galerna.sweep.runner import ERROR_FILE, is_finished, run_sweep
    from galerna.sweep.timing import profile_lines, wall_summary
    from galerna.sweep.spec import SweepError, load_sweep

    console = Console(stderr=True, soft_wrap=True)
    try:
        spec = load_sweep(sweep_file)
        tasks = spec.tasks(out)
    except SweepError as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2)

    missing = sorted({p for t in tasks for p in ([t.trace] if t.trace else []) + list(t.injections) if not Path(p).exists()})
    for p in missing[:10]:
        console.print(f"[yellow]warning:[/yellow] missing file {p} (its runs will fail)")

    if dry_run:
        for t in tasks:
            if not only or any(s in t.run_id for s in only):
                state = "done" if is_finished(t) else "todo"
                typer.echo(f"{state}\t{t.run_id}\t{t.out_dir}")
        raise typer.Exit(0)

    console.print(
        f"sweep [bold]{spec.name}[/bold]: {len(spec.profiles)} profile(s) x {len(spec.traces)} trace(s) x "
        f"{len(spec.injections)} injection(s) = {len(tasks)} runs"
        + (f", {sum(1 for t in tasks if any(s in t.run_id for s in only))} selected by --only" if only else "")
        + f" → {out}"
    )

    def on_row(row: dict) -> None:
        if quiet:
            return
        if row.get("status") == "done":
            console.print(f"  [green]done[/green]   {row['run_id']}  {_fmt(row.get('run_wall_seconds'), '{:.2f}')} s")
        else:
            console.print(f"  [red]FAILED[/red] {row['run_id']}: {row.get('error')}")

    result = run_sweep(
        spec,
        out,
        scheduler=scheduler,
        workers=workers,
        processes=not threads,
        progress=not quiet,
        console=console,
        only=only,
        on_row=on_row,
    )

    if result.headline and any(r["ar_share"] for r in result.headline):
        table = Table(title=f"{spec.name}: mean per profile and AR share")
        table.add_column("profile")
        table.add_column("AR share", justify="right")
        table.add_column("runs", justify="right")
        for _, head, _ in res.HEADLINE_METRICS:
            table.add_column(head, justify="right")
        for r in result.headline:
            table.add_row(
                r["profile"],
                f"{r['ar_share']:g} %",
                str(r["runs"]),
                *[_fmt(r.get(c), f) for c, _, f in res.HEADLINE_METRICS],
            )
        Console(soft_wrap=True).print(table)

    for r in result.failed:
        console.print(f"[red]failed:[/red] {r['run_id']}: {r.get('error')}  (traceback: {Path(r['out_dir']) / ERROR_FILE})")
    console.print(wall_summary(result))
    for line in profile_lines(result.rows):
        console.print(line, markup=False, highlight=False)
    console.print(f"results: {result.csv_path}  {result.parquet_path}  {out / res.HEADLINE_MD}")
    if result.failed:
        console.print(f"[red]{len(result.failed)} of {len(result.rows)} runs failed[/red]; re-run the same command to retry them")
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("sweep")(sweep)
