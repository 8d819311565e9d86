"""`python -m galerna.daemon serve|token …` (the same commands as `galerna serve`, `galerna token`)."""
import typer

from galerna.daemon.command import register

app = typer.Typer(no_args_is_help=True, pretty_exceptions_show_locals=False)


@app.callback()
def main() -> None:
    """Galerna daemon commands."""


register(app)
try:
    from galerna.client.command import register as register_client

    register_client(app)
except ImportError:  # pragma: no cover
    pass

if __name__ == "__main__":
    app()
