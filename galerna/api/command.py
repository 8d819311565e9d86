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
    standby: bool = typer.Option(False, "--standby", help="when another daemon owns the database, wait and take "
                                                          "over when it dies (README: Active and standby)"),
    advertise: Optional[str] = typer.Option(None, "--advertise", metavar="URL",
                                            help="the URL clients reach this daemon at (default http://HOST:PORT)"),
) -> None:
    """Run the daemon: the scheduling core on the real clock, with a REST API and a database."""
    import uvicorn

    from galerna.api.app import create_app
    from galerna.api.logformat import setup_logging
    from galerna.api.startup import Startup
    from galerna.daemon.settings import load_settings

    try:
        settings = load_settings(config)
    except ConfigError as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(2)
    d = settings.daemon
    updates = {k: v for k, v in {"db": db, "host": host, "port": port, "data_dir": data_dir,
                                 "advertise": advertise}.items() if v is not None}
    if no_enact:
        updates["enact"] = False
    if standby:
        updates["standby"] = True
    settings = settings.model_copy(update={"daemon": d.model_copy(update=updates)})
    setup_logging(settings.daemon.log_json)
    logging.getLogger("galerna.daemon").info(
        "starting", extra={"listen": f"{settings.daemon.host}:{settings.daemon.port}",
                           "db": redact(settings.daemon.db or "default"), "enact": settings.daemon.enact})
    from galerna.api.exposure import exposure_warning

    if (warning := exposure_warning(settings.daemon.host)) is not None:
        logging.getLogger("galerna.api").warning(warning)
    d = settings.daemon
    own, sock = claim(settings)  # the database's lock, then the port: both before any start-up work
    service = None
    if opennebula is not None:
        from galerna.opennebula.command import opennebula_service

        service = opennebula_service(settings, opennebula)
        settings = service.settings
    server: list = []
    # OpenNebula mode still starts before serving: its start-up ended the server when run behind it (not yet known why)
    startup = Startup(settings, own, standby=d.standby, advertise=advertised(d), background=opennebula is None,
                      on_failure=lambda: setattr(server[0], "should_exit", True))
    app = create_app(settings, store=service.store if service else None, service=service, startup=startup)
    # uvicorn handles SIGTERM/SIGINT: it stops accepting, finishes requests, then runs the lifespan shutdown.
    server.append(uvicorn.Server(uvicorn.Config(app, log_config=None, timeout_graceful_shutdown=5)))
    server[0].run(sockets=[sock])
    if startup.failed:
        raise typer.Exit(1)


def advertised(d) -> str:  # noqa: ANN001 - a DaemonConfig
    """The URL this daemon says clients reach it at."""
    import socket

    host = socket.gethostname() if d.host in ("0.0.0.0", "::", "") else d.host
    return d.advertise or f"http://{'[' + host + ']' if ':' in host else host}:{d.port}"


def claim(settings):  # noqa: ANN001, ANN201 - Settings -> (Ownership | None, socket)
    """Take the database's lock (a standby goes on without it and waits later) and bind the port, or exit with a
    message that says which database is owned by whom, or which port is taken."""
    from galerna.api.listen import CannotListen, listening_socket
    from galerna.store.db import default_db_url
    from galerna.store.ownership import ownership_for
    from galerna.store.probe import short_error

    d = settings.daemon
    own = ownership_for(d.db or default_db_url(), advertised(d))
    try:
        if own is not None and not own.try_acquire() and not d.standby:
            typer.echo(str(own.refusal()), err=True)
            raise typer.Exit(1)
    except typer.Exit:
        raise
    except Exception as e:  # noqa: BLE001 - the database does not answer: say so, in its own words
        typer.echo(f"cannot reach the database {own.where}: {short_error(e)}", err=True)
        raise typer.Exit(1) from None
    try:
        sock = listening_socket(d.host, d.port)
    except CannotListen as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(1) from None
    return own, sock


def redact(url: str) -> str:
    """A database URL without its credentials, for the log."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
