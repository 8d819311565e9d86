"""`python -m galerna.api serve|token|lease …`: the daemon's commands (the same as `galerna serve`, `galerna token`,
`galerna lease`…) without loading the simulator, sweeps and reports."""
import typer

from galerna.api.command import register as register_serve
from galerna.client.command import register as register_client
from galerna.daemon.command import register as register_token

app = typer.Typer(no_args_is_help=True, pretty_exceptions_show_locals=False)


@app.callback()
def main() -> None:
    """Galerna daemon commands."""


register_serve(app)
register_token(app)
register_client(app)

if __name__ == "__main__":
    app()
