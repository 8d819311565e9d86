"""`galerna serve` and `galerna token create|list|revoke`."""
from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Optional

import typer

from galerna.config.load import ConfigError


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, plus any ``extra`` fields."""

    _skip = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": round(record.created, 3), "level": record.levelname.lower(), "logger": record.name,
               "msg": record.getMessage()}
        for k, v in record.__dict__.items():
            if k not in self._skip and not k.startswith("_"):
                out[k] = v if isinstance(v, (str, int, float, bool, type(None), list, dict)) else str(v)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def setup_logging(json_lines: bool = True, level: int = logging.INFO) -> None:
    h = logging.StreamHandler(sys.stderr)
    h.setFormatter(JsonFormatter() if json_lines else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [h]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)


def serve(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="TOML file ([daemon], [enactment], [scheduling]...)"),
    db: Optional[str] = typer.Option(None, "--db", help="SQLAlchemy URL (default: SQLite under the data directory)"),
    host: Optional[str] = typer.Option(None, "--host", help="address to listen on (default 127.0.0.1)"),
    port: Optional[int] = typer.Option(None, "--port", help="port (default 7070)"),
    no_enact: bool = typer.Option(False, "--no-enact", help="plan only: start no VM on any hypervisor"),
    data_dir: Optional[str] = typer.Option(None, "--data-dir", help="state files and test-driver hosts"),
) -> None:
    """Run the daemon: the scheduling core on the real clock, with a REST API and a database."""
    import uvicorn

    from galerna.api.app import create_app
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
                           "db": _redact(settings.daemon.db or "default"), "enact": settings.daemon.enact})
    app = create_app(settings)
    # uvicorn handles SIGTERM/SIGINT: it stops accepting, finishes requests, then runs the lifespan shutdown.
    uvicorn.run(app, host=settings.daemon.host, port=settings.daemon.port, log_config=None,
                timeout_graceful_shutdown=5)


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


token_app = typer.Typer(help="Bearer tokens (stored hashed; a token is shown once, when created).",
                        no_args_is_help=True)
DbOpt = typer.Option(None, "--db", help="SQLAlchemy URL (default: $GALERNA_DB or SQLite under the data directory)")


@token_app.command("create")
def token_create(
    tenant: Optional[str] = typer.Option(None, "--tenant", "-t", help="the tenant (virtual datacenter) it acts for"),
    admin: bool = typer.Option(False, "--admin", help="an admin token: sees all leases, manages hosts"),
    name: str = typer.Option("", "--name", "-n", help="a label"),
    db: Optional[str] = DbOpt,
) -> None:
    from galerna.store.db import Store

    if bool(tenant) == admin:
        typer.echo("give exactly one of --tenant NAME or --admin", err=True)
        raise typer.Exit(2)
    store = Store(db)
    tid, tok = store.create_token(name or (tenant or "admin"), tenant=tenant, admin=admin)
    typer.echo(tok)
    typer.echo(f"token {tid} created for {'admin' if admin else 'tenant ' + tenant}; it is not shown again", err=True)


@token_app.command("list")
def token_list(db: Optional[str] = DbOpt) -> None:
    from rich.console import Console
    from rich.table import Table

    from galerna.store.db import Store

    t = Table("id", "name", "tenant", "admin", "created", "revoked")
    for r in Store(db).list_tokens():
        t.add_row(str(r.id), r.name, r.tenant or "", "yes" if r.admin else "",
                  time.strftime("%Y-%m-%d %H:%M", time.gmtime(r.created)),
                  time.strftime("%Y-%m-%d %H:%M", time.gmtime(r.revoked)) if r.revoked else "")
    Console().print(t)


@token_app.command("revoke")
def token_revoke(token_id: int = typer.Argument(..., help="the id shown by `token list`"), db: Optional[str] = DbOpt) -> None:
    from galerna.store.db import Store

    if not Store(db).revoke_token(token_id):
        typer.echo(f"no active token {token_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"token {token_id} revoked")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.add_typer(token_app, name="token")
