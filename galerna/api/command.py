"""`galerna serve`: the daemon with its REST API. It lives above the API it starts, so that ``galerna.daemon``
never imports ``galerna.api``."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import typer

from galerna.config.load import ConfigError


def serve(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="TOML file ([daemon], [enactment], [scheduling]...)"),
    db: Optional[str] = typer.Option(None, "--db", help="SQLAlchemy URL (default: SQLite under the data directory)"),
    host: Optional[str] = typer.Option(None, "--host", help="address to listen on (default 127.0.0.1)"),
    port: Optional[int] = typer.Option(None, "--port", help="port (default 7070)"),
    no_enact: bool = typer.Option(False, "--no-enact", help="plan only: start no VM on any hypervisor"),
    data_dir: Optional[str] = typer.Option(None, "--data-dir", help="state files and test-driver hosts"),
    opennebula: Optional[str] = typer.Option(None, "--opennebula", metavar="URL",
                                             help="OpenNebula mode: oned's XML-RPC URL; its hosts and VMs are the "
                                                  "daemon's (docs/opennebula.md)"),
) -> None:
    """Run the daemon: the scheduling core on the real clock, with a REST API and a database."""
    import uvicorn

    from galerna.api.app import create_app
    from galerna.api.logformat import setup_logging
    from galerna.daemon.settings import load_settings

    try:
        settings = load_settings(config)
    except ConfigError as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(2)
    d = settings.daemon
    updates = {k: v for k, v in {"db": db, "host": host, "port": port, "data_dir": data_dir}.items() if v is not None}
    if no_enact:
        updates["enact"] = False
    settings = settings.model_copy(update={"daemon": d.model_copy(update=updates)})
    setup_logging(settings.daemon.log_json)
    logging.getLogger("galerna.daemon").info(
        "starting", extra={"listen": f"{settings.daemon.host}:{settings.daemon.port}",
                           "db": redact(settings.daemon.db or "default"), "enact": settings.daemon.enact})
    from galerna.api.exposure import exposure_warning

    if (warning := exposure_warning(settings.daemon.host)) is not None:
        logging.getLogger("galerna.api").warning(warning)
    service = None
    if opennebula is not None:
        from galerna.opennebula.command import opennebula_service

        service = opennebula_service(settings, opennebula)
        settings = service.settings
    app = create_app(settings, store=service.store if service else None, service=service)
    # uvicorn handles SIGTERM/SIGINT: it stops accepting, finishes requests, then runs the lifespan shutdown.
    uvicorn.run(app, host=settings.daemon.host, port=settings.daemon.port, log_config=None,
                timeout_graceful_shutdown=5)


def redact(url: str) -> str:
    """A database URL without its credentials, for the log."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
