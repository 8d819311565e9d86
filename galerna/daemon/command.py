"""`galerna token create|list|revoke` (`galerna serve` is in galerna/api/command.py, above the API it starts)."""
from __future__ import annotations

import time
from typing import Optional

import typer


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
    app.add_typer(token_app, name="token")
