"""The `galerna` command: one typer app, each area registers its own commands."""
from __future__ import annotations

import typer

app = typer.Typer(
    help="Galerna: lease-based VM scheduling — simulate traces, run the daemon, sweep experiments.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


def _register() -> None:
    # Each area keeps its commands next to its code; add one line per area.
    from galerna.sim import command as sim_command

    sim_command.register(app)


_register()

if __name__ == "__main__":
    app()
