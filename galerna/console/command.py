"""The ``galerna view`` command (its imports are lazy, so the CLI starts quickly)."""
from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def view(out: Path = typer.Argument(..., help="a `galerna simulate --out` directory"),
             host: str = typer.Option("127.0.0.1", help="address to listen on"),
             port: int = typer.Option(7071, help="port to listen on"),
             open_browser: bool = typer.Option(False, "--open", help="open the page in the default browser")) -> None:
        """Open the timeline of a simulation output directory in the browser (read-only)."""
        import uvicorn

        from galerna.console.assets import MISSING, vendor_missing
        from galerna.console.outdir import OutputDirError
        from galerna.console.view import create_view_app

        try:
            web = create_view_app(out)
        except OutputDirError as e:
            typer.echo(f"galerna view: {e}", err=True)
            raise typer.Exit(2) from None
        if vendor_missing():
            typer.echo(f"galerna view: {MISSING}", err=True)
            raise typer.Exit(2)
        url = f"http://{host}:{port}/"
        typer.echo(f"galerna view: {out} at {url}", err=True)
        if open_browser:
            import threading
            import webbrowser

            threading.Timer(1.0, webbrowser.open, (url,)).start()
        uvicorn.run(web, host=host, port=port, log_level="warning")
