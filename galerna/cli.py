"""The `galerna` command: one typer app whose subcommands load their area's module only when they run.

`galerna simulate` must start fast (issue 13: under 0.25 s on a tiny workload), so naming a command imports only
the area that owns it: `simulate` never loads the HTTP client, the daemon's database layer or the report's plots.
`galerna --help` (and an unknown name's "Did you mean ...?") is answered from the one-line summaries kept here
(SUMMARIES), without loading any area; tests/test_startup.py checks that they are what the areas say.

Run as the program (the console script and `python -m galerna` call `app()`), the garbage collector is paused
while the command's area is imported and what that built is then frozen (`gc.freeze`): those objects live as long
as the process, and walking them over and over while they are made, and again at exit, was ~8 % of a start's
instructions. Library callers (typer's CliRunner, tests) never go through `app()`, so their collector is left alone.

Two defaults are set before numpy and pydantic are first used, each only when the user has not set it:
OPENBLAS_NUM_THREADS=1 (OpenBLAS starts a thread per core when numpy is imported, on every start, for the core's
small arrays that never use them) and PYDANTIC_DISABLE_PLUGINS (pydantic scans the installed packages' entry points
for its plugins when the first model is built; set it to the empty string to have plugins loaded).
"""
from __future__ import annotations

import gc
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
# (typer imports pydantic; the areas import numpy: both after the two lines above)
from types import ModuleType
from typing import Callable

import typer
from typer.core import TyperCommand, TyperGroup


def _sim() -> ModuleType:
    from galerna.sim import command
    return command


def _sweep() -> ModuleType:
    from galerna.sweep import command
    return command


def _report() -> ModuleType:
    from galerna.report import command
    return command


def _serve() -> ModuleType:
    from galerna.api import command
    return command


def _token() -> ModuleType:
    from galerna.daemon import command
    return command


def _client() -> ModuleType:
    from galerna.client import command
    return command


def _deployment() -> ModuleType:
    from galerna.client import deployment
    return deployment


def _view() -> ModuleType:
    from galerna.console import command
    return command


# Each area keeps its commands next to its code (a `register(app)` function); add one row per command, in the
# order `--help` lists them. tests/test_cli.py checks that each area registers exactly the names given here.
AREAS: dict[str, Callable[[], ModuleType]] = {
    "simulate": _sim,
    "sweep": _sweep,
    "report": _report,
    "serve": _serve,
    "queue": _client,
    "events": _client,
    "view": _view,
    "token": _token,
    "lease": _client,
    "host": _client,
    "deployment": _deployment,
}


# What `galerna --help` says of each command: the first paragraph of its help, as its area gives it (checked by
# tests/test_startup.py; edit both together).
SUMMARIES: dict[str, str] = {
    "simulate": "Simulate a workload and write hosts.csv, leases.csv, allocations.csv and summary.json.",
    "sweep": "Run a sweep: every combination is one Dask task; results go to OUT/results.{csv,parquet}.",
    "report": "Figures (PNG) and an HTML page of a run (Gantt, utilization, queue, waits) or of a sweep\n"
              "(each metric against AR share, one line per profile).",
    "serve": "Run the daemon: the scheduling core on the real clock, with a REST API and a database.",
    "queue": "Leases waiting, in submit order.",
    "events": "Follow the daemon's event stream (Server-Sent Events), one JSON object per line.",
    "view": "Open the timeline of a simulation output directory in the browser (read-only).",
    "token": "Bearer tokens (stored hashed; a token is shown once, when created).",
    "lease": "Request, list, show, cancel and extend leases.",
    "host": "List, add, enable and disable hosts (admin token).",
    "deployment": "this database's deployment id; VMs of other deployments on its hosts",
}


class Summary(TyperCommand):
    """A command not loaded yet: its name and summary only, enough for the root's help and for suggestions."""


class LazyAreaGroup(TyperGroup):
    """The root group: a command's click object is built from its area's `register` on first use; until then
    `self.commands` holds its Summary, so typer's "Did you mean ...?" sees every name without loading an area."""

    def __init__(self, **attrs) -> None:
        super().__init__(**attrs)
        self.commands.update({name: Summary(name=name, help=SUMMARIES[name]) for name in AREAS})
        self._listing = False

    def list_commands(self, ctx) -> list[str]:
        return list(AREAS)

    def get_command(self, ctx, cmd_name: str):
        cmd = self.commands.get(cmd_name)
        if isinstance(cmd, Summary) and not self._listing:
            self.commands.update(area_commands(AREAS[cmd_name]()))
            cmd = self.commands[cmd_name]
            _resume_collector()
        return cmd

    def format_help(self, ctx, formatter) -> None:
        self._listing = True  # the root's help lists the summaries: no area is loaded for it
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


def area_commands(module: ModuleType) -> dict:
    """The click commands an area's `register(app)` adds, by name (built on a throwaway typer app)."""
    sub = typer.Typer()
    module.register(sub)
    return dict(typer.main.get_group(sub).commands)


_paused = False  # the collector, while `app()` loads the command's area


def _resume_collector() -> None:
    global _paused
    if _paused:
        _paused = False
        gc.freeze()  # what the imports built (modules, classes, tables) stays for good: never walk it again
        gc.enable()


class GalernaApp(typer.Typer):
    """The `galerna` program: `app()` pauses the collector until the command's area is loaded (see above)."""

    def __call__(self, *args, **kwargs):
        global _paused
        if gc.isenabled():
            gc.disable()
            _paused = True
        try:
            return super().__call__(*args, **kwargs)
        finally:
            if _paused:  # no area was loaded (--help, a mistyped name): nothing to freeze
                _paused = False
                gc.enable()


app = GalernaApp(
    cls=LazyAreaGroup,
    help="Galerna: lease-based VM scheduling — simulate traces, run the daemon, sweep experiments.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def main() -> None:
    """Galerna: lease-based VM scheduling."""


if __name__ == "__main__":
    app()
