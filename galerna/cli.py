"""The `galerna` command: one typer app whose subcommands load their area's module only when they run.

`galerna simulate` must start fast (issue 13: under 0.25 s on a tiny workload), so naming a command imports only
the area that owns it: `simulate` never loads the HTTP client, the daemon's database layer or the report's plots.
`galerna --help` (or an unknown name) loads every area to list them all.

Two defaults are set before numpy and pydantic are first used, each only when the user has not set it:
OPENBLAS_NUM_THREADS=1 (OpenBLAS starts a thread per core when numpy is imported, on every start, for the core's
small arrays that never use them) and PYDANTIC_DISABLE_PLUGINS (pydantic scans the installed packages' entry points
for its plugins when the first model is built; set it to the empty string to have plugins loaded).
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
# (typer imports pydantic; the areas import numpy: both after the two lines above)
from types import ModuleType
from typing import Callable

import typer
from typer.core import TyperGroup


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


class LazyAreaGroup(TyperGroup):
    """The root group: a command's click object is built from its area's `register` on first use."""

    def list_commands(self, ctx) -> list[str]:
        return list(AREAS)

    def get_command(self, ctx, cmd_name: str):
        if cmd_name not in self.commands:
            # An unknown name loads every area, so typer's "Did you mean ...?" sees all the names.
            loaders = [AREAS[cmd_name]] if cmd_name in AREAS else list(dict.fromkeys(AREAS.values()))
            for loader in loaders:
                self.commands.update(area_commands(loader()))
        return self.commands.get(cmd_name)


def area_commands(module: ModuleType) -> dict:
    """The click commands an area's `register(app)` adds, by name (built on a throwaway typer app)."""
    sub = typer.Typer()
    module.register(sub)
    return dict(typer.main.get_group(sub).commands)


app = typer.Typer(
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
