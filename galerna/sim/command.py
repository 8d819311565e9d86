"""`galerna simulate`: run a trace (or the embedded default) and write the output directory."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from galerna.config.load import ConfigError, load_config_full
from galerna.readers import TraceError
from galerna.sim.engine import Simulation
from galerna.sim.metrics import summarize
from galerna.sim.output import write_output
from galerna.sim.run import prepare

console = Console(stderr=True)


def simulate_command(
    trace: Optional[Path] = typer.Argument(None, help="SWF, LWF (XML or whitespace) or CSV trace; omit for the embedded default workload"),
    inject: list[Path] = typer.Option([], "--inject", "-i", help="advance reservations to merge into the trace (repeatable)"),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="Galerna TOML or Haizea .conf file"),
    set_: list[str] = typer.Option([], "--set", help="override an option: section.key=value (repeatable)"),
    out: Path = typer.Option(Path("galerna-out"), "--out", "-o", help="output directory"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="show a progress bar"),
) -> None:
    """Simulate a workload and write hosts.csv, leases.csv, allocations.csv and summary.json."""
    import time

    try:
        loaded = load_config_full(config, set_)
    except ConfigError as e:
        _error(e)
    for w in loaded.warnings:
        typer.echo(f"warning: {w}", err=True)
    cfg = loaded.config
    if trace is None and loaded.tracefile is not None:
        trace = loaded.tracefile
        if not inject and loaded.injectionfile is not None:
            inject = [loaded.injectionfile]
    try:
        t0 = time.perf_counter()
        sim = prepare(trace, cfg, inject)
    except (TraceError, ValueError, OSError) as e:
        _error(e)
    what = str(trace) if trace else "embedded default workload"
    console.print(f"Simulating {what}: {len(sim.requests)} leases on {len(sim.site)} hosts")
    result = _run(sim, progress and cfg.simulation.progress)
    summary = summarize(result, time.perf_counter() - t0)
    write_output(result, summary, out)
    _print_summary(summary, out)


def _error(e: Exception) -> None:
    """One plain line per problem (never wrapped: people grep for FILE:LINE)."""
    typer.echo(f"error: {e}", err=True)
    raise typer.Exit(2)


def _run(sim: Simulation, progress: bool):
    # The bar is transient: where stderr is no terminal it would never be drawn, so rich.progress is not even loaded.
    if not progress or not console.is_terminal:
        return sim.run()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]simulating"), BarColumn(), MofNCompleteColumn(), TextColumn("leases"),
        TimeElapsedColumn(), console=console, transient=True,
    ) as bar:
        task = bar.add_task("leases", total=len(sim.requests))
        return sim.run(lambda k: bar.advance(task, k))


def _print_summary(summary: dict, out: Path) -> None:
    from rich.table import Table

    table = Table(title="Simulation summary", show_header=True)
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = [
        ("leases", summary["leases"]),
        ("done / rejected", f"{summary['done']} / {summary['rejected']}"),
        ("best-effort done", f"{summary['be_done']} of {summary['be_requested']}"),
        ("AR accepted", f"{summary['ar_accepted']} of {summary['ar_requested']}"),
        ("immediate accepted", f"{summary['im_accepted']} of {summary['im_requested']}"),
        ("deadline accepted", f"{summary['deadline_accepted']} of {summary['deadline_requested']}"),
        ("mean wait (BE)", f"{summary['mean_wait']:.1f} s"),
        ("mean bounded slowdown (BE)", f"{summary['mean_bounded_slowdown']:.2f}"),
        ("utilization", f"{summary['utilization']:.1%}"),
        ("all best-effort done at", f"{summary['all_best_effort']:.0f} s"),
        ("suspensions / requeues", f"{summary['suspensions']} / {summary['requeues']}"),
        ("max queue", summary["max_queue"]),
        ("longest wait (BE)", f"{summary['max_wait']:.0f} s, lease {summary['longest_wait_lease']}"
         if summary.get("longest_wait_lease") else "-"),
        ("most preempted", f"lease {summary['most_preempted_lease']}, {summary['most_preemptions']} "
                           f"time{'' if summary['most_preemptions'] == 1 else 's'}"
         if summary.get("most_preempted_lease") else "-"),
        ("wall time", f"{summary['wall_seconds']:.2f} s"),
    ]
    for k, v in rows:
        table.add_row(k, str(v))
    Console().print(table)
    Console().print(f"Output written to [bold]{out}[/bold] (hosts.csv, leases.csv, allocations.csv, summary.json)")


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate_command)
