"""Running a sweep on Dask: one task per run, resumable, failures captured, one results table.

Layout of a sweep's output directory::

    OUT/sweep.json            the sweep as it was resolved (profiles, files)
    OUT/runs/RUN_ID/          each run's output directory (FORMATS.md) plus
        task.json             what was run (profile, files, full configuration)
        DONE                  written last, when the run finished: {"wall_seconds": ...}
        log.txt               the simulator's log (e.g. skipped trace lines)
        error.txt             the traceback, when the run failed
    OUT/results.csv|.parquet  one row per run: profile, trace, injection, AR share, status, error,
                              wall time, every scalar metric of summary.json, the run's directory
    OUT/headline.csv|.md      per profile and AR share: the study's headline metrics

A run counts as finished when its directory holds summary.json and DONE and its task.json
matches the task (same files, same configuration); finished runs are not run again.
"""
from __future__ import annotations

import importlib
import inspect
import json
import logging
import os
import shutil
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

from galerna.sweep import results as res
from galerna.sweep.spec import RunTask, SweepSpec

DONE_MARKER = "DONE"
TASK_FILE = "task.json"
ERROR_FILE = "error.txt"
LOG_FILE = "log.txt"


def _task_identity(task: RunTask | dict) -> dict:
    d = asdict(task) if isinstance(task, RunTask) else task
    return {k: d.get(k) for k in ("trace", "injections", "config", "simulator")} | {
        "injections": list(d.get("injections") or [])
    }


def resolve_simulator(ref: str) -> Callable:
    """``module:function`` → the function."""
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name or "simulate")


_workloads = None  # this worker process's WorkloadCache, made by its first run


def _shared_workloads(simulate: Callable) -> dict:
    """``workloads=`` the process's WorkloadCache when the simulator takes one (galerna.sim.run.simulate does):
    the runs of a worker then read the trace once, not once per run."""
    global _workloads
    if "workloads" not in inspect.signature(simulate).parameters:
        return {}
    if _workloads is None:
        from galerna.readers import WorkloadCache

        _workloads = WorkloadCache()
    return {"workloads": _workloads}


def worker_workloads():
    """This process's WorkloadCache (None before its first run): what its runs have read."""
    return _workloads


def is_finished(task: RunTask) -> bool:
    out = Path(task.out_dir)
    if not ((out / "summary.json").is_file() and (out / DONE_MARKER).is_file() and (out / TASK_FILE).is_file()):
        return False
    try:
        saved = json.loads((out / TASK_FILE).read_text())
    except (OSError, ValueError):
        return False
    return _task_identity(saved) == _task_identity(task)


def finished_row(task: RunTask) -> dict:
    """The results row of a run finished earlier, from its directory."""
    out = Path(task.out_dir)
    row = task.describe()
    done = json.loads((out / DONE_MARKER).read_text() or "{}")
    row.update(status="done", error=None, run_wall_seconds=done.get("wall_seconds"), cached=True)
    row.update(res.flatten(res.load_summary(out)))
    return row


class _RunLog(logging.Handler):
    """The log records of one run (emitted by the thread that runs it) into its log.txt."""

    def __init__(self, path: Path):
        super().__init__(logging.INFO)
        self.ident = threading.get_ident()
        self.stream = open(path, "a", encoding="utf-8")
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.ident:
            self.stream.write(self.format(record) + "\n")

    def close(self) -> None:
        self.stream.close()
        super().close()


def execute(task: RunTask) -> dict:
    """Run one simulation (on a Dask worker). Never raises: a failure becomes a row with its error."""
    out = Path(task.out_dir)
    row = task.describe()
    t0 = time.perf_counter()
    try:
        if out.exists():  # a partial or stale run: start afresh
            shutil.rmtree(out)
        out.mkdir(parents=True)
        (out / TASK_FILE).write_text(json.dumps(asdict(task), indent=1))
        # The simulator's warnings (skipped trace lines…) go to the run's log.txt, not the console.
        logger = logging.getLogger("galerna")
        logger.propagate = False
        if logger.level == logging.NOTSET or logger.level > logging.INFO:
            logger.setLevel(logging.INFO)
        handler = _RunLog(out / LOG_FILE)
        logger.addHandler(handler)
        from galerna.config.schema import Config

        simulate = resolve_simulator(task.simulator)
        config = Config.model_validate(task.config)
        try:
            summary = simulate(
                Path(task.trace) if task.trace else None,
                config,
                out,
                inject=[Path(p) for p in task.injections],
                progress=False,
                **_shared_workloads(simulate),
            )
        finally:
            logger.removeHandler(handler)
            handler.close()
        if not (out / "summary.json").is_file():
            raise RuntimeError(f"the simulator wrote no summary.json in {out}")
        if not isinstance(summary, dict):
            summary = res.load_summary(out)
        wall = time.perf_counter() - t0
        (out / DONE_MARKER).write_text(
            json.dumps({"wall_seconds": wall, "finished": datetime.now(timezone.utc).isoformat(), "pid": os.getpid()})
        )
        row.update(status="done", error=None, run_wall_seconds=wall, cached=False)
        row.update(res.flatten(summary))
    except Exception as e:  # noqa: BLE001 - a failing run must not stop the others
        tb = traceback.format_exc()
        try:
            out.mkdir(parents=True, exist_ok=True)
            (out / ERROR_FILE).write_text(tb)
        except OSError:
            pass
        row.update(
            status="failed",
            error=f"{type(e).__name__}: {e}".strip()[:2000],
            run_wall_seconds=time.perf_counter() - t0,
            cached=False,
            traceback=tb,
        )
    return row


@dataclass
class SweepResult:
    out_dir: Path
    rows: list[dict]
    wall_seconds: float
    ran: int
    skipped: int
    workers: int
    csv_path: Path | None = None
    parquet_path: Path | None = None
    headline: list[dict] = field(default_factory=list)

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.rows if r.get("status") == "failed"]

    @property
    def run_walls(self) -> list[float]:
        return [r["run_wall_seconds"] for r in self.rows if r.get("status") == "done" and not r.get("cached") and r.get("run_wall_seconds") is not None]


# Environment variables Dask's nanny sets in a worker process before spawning it
# (``distributed.nanny.pre-spawn-environ``) that the sweep's LocalCluster leaves out (None).
#
# MALLOC_TRIM_THRESHOLD_=65536 is Dask's default, meant to hand freed memory back to the OS
# at once. Setting any glibc malloc threshold also switches off glibc's *dynamic* mmap
# threshold, so every allocation over 128 KiB stays an mmap for good: each numpy temporary of
# the slot table (segments x hosts x resources, e.g. ``grid[i:j].min(axis=0)``) is then
# mmap'ed, faulted in and zeroed page by page, and munmap'ed. A study run (vm-predeployed,
# 20 % ARs, core of 33f9921) took 4.5 million page faults and 10.5 s of system time in a worker against
# 9,000-400,000 faults and 0.1-1 s standalone (see docs/experiments.md). Without it a worker allocates like
# ``galerna simulate``; a run's memory is ~100 MB, so nothing needs trimming. A value set in
# the environment of the sweep command itself still wins (the nanny passes it through).
NANNY_PRE_SPAWN_ENVIRON: dict[str, Any] = {"MALLOC_TRIM_THRESHOLD_": None}

# Dask settings of the sweep's LocalCluster workers. Dask's statistical profiler (for the dashboard, which a
# sweep's LocalCluster does not show) walks the running task's stack every 10 ms on the worker's event loop
# and folds the samples every second: a vm-predeployed study run's other threads took 0.19 s CPU with it and
# 0.05 s without, against 4.5 s of the run itself (issue 13).
WORKER_CONFIG: dict[str, Any] = {"distributed.worker.profile.enabled": False}


def _client(scheduler: str | None, workers: int | None, processes: bool, n_tasks: int):
    """A Dask client: on an existing scheduler, or on a new LocalCluster (one thread per worker:
    the simulator is pure Python, so parallelism comes from processes), whose worker processes
    start without the environment of ``NANNY_PRE_SPAWN_ENVIRON`` and with ``WORKER_CONFIG``."""
    import dask
    from distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler), None
    n = workers or max(1, min(os.cpu_count() or 1, n_tasks))
    # The nanny reads its pre-spawn environment and the configuration it hands its worker when it is created
    # (and keeps them for restarts); a worker in this process (threads) reads its own when it is created.
    settings = {f"distributed.nanny.pre-spawn-environ.{k}": v for k, v in NANNY_PRE_SPAWN_ENVIRON.items()}
    with dask.config.set({**settings, **WORKER_CONFIG}):
        cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=processes,
            dashboard_address=":0",
            silence_logs=logging.ERROR,
        )
    return Client(cluster), cluster


_SIZE_RANK = {"small": 1, "medium": 2, "large": 3}


def run_order(t: RunTask) -> tuple:
    """Runs without ARs first: every other run's relative metrics refer to them, so a sweep
    stopped part way still has its baselines. Then longest first, so that the last runs to
    finish are short ones: more injected work (AR share, then AR size, then duration) makes a
    run slower."""
    return (t.ar_share > 0, -t.ar_share, -_SIZE_RANK.get(t.meta.get("ar_size") or "", 0),
            -(t.meta.get("ar_duration_h") or 0))


def run_sweep(
    spec: SweepSpec,
    out_dir: Path,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    processes: bool = True,
    progress: bool = True,
    console: Any = None,
    only: Sequence[str] | None = None,
    on_row: Callable[[dict], None] | None = None,
) -> SweepResult:
    """Run every combination of ``spec`` not finished yet, write the results table, return it all.

    ``only`` restricts the sweep to run ids containing one of the given substrings.
    ``on_row`` is called with each new row as its run ends (e.g. to print it).
    """
    from rich.console import Console

    console = console or Console(stderr=True)
    t_start = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "sweep.json").write_text(json.dumps(spec.to_json(), indent=1))

    tasks = spec.tasks(out_dir)
    if only:
        tasks = [t for t in tasks if any(s in t.run_id for s in only)]
    rows: dict[str, dict] = {}
    todo: list[RunTask] = []
    for t in tasks:
        if is_finished(t):
            try:
                rows[t.run_id] = finished_row(t)
                continue
            except (OSError, ValueError):
                pass
        todo.append(t)
    skipped = len(rows)
    todo.sort(key=run_order)

    n_workers = 0
    galerna_log = logging.getLogger("galerna")
    saved_log = (galerna_log.propagate, galerna_log.level)
    try:
        if todo:
            client, cluster = _client(scheduler, workers, processes, len(todo))
            try:
                n_workers = len(client.scheduler_info().get("workers", {})) or (workers or 0)
                _run_on(client, todo, rows, progress, console, on_row, len(tasks), skipped)
            finally:
                client.close()
                if cluster is not None:
                    cluster.close()
    finally:
        galerna_log.propagate, _ = saved_log
        galerna_log.setLevel(saved_log[1])
        # Whatever happened (even Ctrl-C), the table holds every run: the unfinished ones as pending.
        all_rows = [rows.get(t.run_id) or {**t.describe(), "status": "pending", "error": None} for t in tasks]
        all_rows = res.add_derived(all_rows)
        table_rows = [{k: v for k, v in r.items() if k != "traceback"} for r in all_rows]
        csv_path, pq_path = res.write_table(table_rows, out_dir)
        head = res.write_headline(table_rows, out_dir)

    return SweepResult(
        out_dir=out_dir,
        rows=all_rows,
        wall_seconds=time.perf_counter() - t_start,
        ran=len(todo),
        skipped=skipped,
        workers=n_workers,
        csv_path=csv_path,
        parquet_path=pq_path,
        headline=head,
    )


def _run_on(client, todo, rows, progress, console, on_row, total, skipped) -> None:
    """Run ``todo`` on the cluster, adding each row to ``rows`` as its run ends (so that an
    interrupted sweep still tables every run that finished)."""
    from distributed import as_completed
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    futures = {}
    for t in todo:
        f = client.submit(execute, t, pure=False, key=f"galerna-run-{t.run_id}-{os.urandom(4).hex()}")
        futures[f] = t
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    # A progress bar only on a terminal; elsewhere (logs, CI) the per-run lines tell the progress.
    with Progress(*columns, console=console, disable=not (progress and console.is_terminal), transient=False) as bar:
        job = bar.add_task("runs", total=total, completed=skipped, failed=0)
        failed = 0
        for fut in as_completed(list(futures)):
            task = futures[fut]
            try:
                row = fut.result()
            except Exception as e:  # noqa: BLE001 - the worker died (e.g. out of memory): still a row
                row = {
                    **task.describe(),
                    "status": "failed",
                    "error": f"{type(e).__name__}: {e}"[:2000],
                    "run_wall_seconds": None,
                    "cached": False,
                    "traceback": "".join(traceback.format_exception(e)),
                }
            rows[task.run_id] = row
            if row.get("status") == "failed":
                failed += 1
            bar.update(job, advance=1, failed=failed)
            if on_row:
                on_row(row)
            fut.release()
