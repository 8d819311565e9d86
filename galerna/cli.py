"""The `galerna` command: one typer app, each area registers its own commands."""
from __future__ import annotations

import typer

app = typer.Typer(
    help="Galerna: lease-based VM scheduling — simulate traces, run the daemon, sweep experiments.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def main() -> None:
    """Galerna: lease-based VM scheduling."""


def _register() -> None:
    # Each area keeps its commands next to its code; add one line per area.
    from galerna.api import command as api_command
    from galerna.client import command as client_command, deployment as client_deployment
    from galerna.console import command as view_command
    from galerna.daemon import command as daemon_command
    from galerna.report import command as report_command
    from galerna.sim import command as sim_command
    from galerna.sweep import command as sweep_command

    sim_command.register(app)  # simulate
    sweep_command.register(app)  # sweep
    report_command.register(app)  # report
    api_command.register(app)  # serve
    daemon_command.register(app)  # token
    client_command.register(app)  # lease, host, queue, events
    client_deployment.register(app)  # deployment
    view_command.register(app)  # view


_register()

if __name__ == "__main__":
    app()
