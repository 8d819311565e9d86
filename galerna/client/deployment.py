"""`galerna deployment show|destroy-foreign`: this database's deployment id and the foreign VMs the daemon left
alone on its hosts, and the operator's explicit action on them (see galerna/daemon/deployment.py)."""
from __future__ import annotations

import json
from typing import Optional

import typer
from rich.table import Table

from galerna.client.command import JSON, TOKEN, URL, _call, console

deployment_app = typer.Typer(help="this database's deployment id; VMs of other deployments on its hosts",
                             no_args_is_help=True)


def _print(d: dict) -> None:
    console.print(f"deployment {d['id']}" + (" (new database)" if d["fresh"] else ""))
    if not d["foreign"]:
        console.print("no foreign VMs on the hosts")
        return
    t = Table("vm", "host", "deployment", "lease")
    for f in d["foreign"]:
        t.add_row(f["vm"], f["host"] or "", f["deployment"] or "(unstamped)", f["lease"] or "")
    console.print(t)


@deployment_app.command("show")
def show(url: Optional[str] = URL, token: Optional[str] = TOKEN, as_json: bool = JSON) -> None:
    """The deployment id and the foreign VMs found at start-up (admin token)."""
    d = _call(url, token, "GET", "/v1/deployment")
    typer.echo(json.dumps(d, indent=1)) if as_json else _print(d)


@deployment_app.command("destroy-foreign")
def destroy_foreign(vms: Optional[list[str]] = typer.Argument(None, help="foreign VMs to destroy, by name"),
                    all_: bool = typer.Option(False, "--all", help="every foreign VM listed by `deployment show`"),
                    url: Optional[str] = URL, token: Optional[str] = TOKEN) -> None:
    """Destroy foreign VMs: those named, or all with --all. Nothing else ever destroys them."""
    if bool(vms) == all_:
        typer.echo("name the VMs to destroy, or give --all", err=True)
        raise typer.Exit(2)
    out = _call(url, token, "POST", "/v1/deployment/destroy-foreign", json={"vms": None if all_ else vms})
    for vm in out["destroyed"]:
        typer.echo(f"destroyed {vm}")
    left = [f["vm"] for f in out["deployment"]["foreign"]]
    if left:
        typer.echo(f"still foreign: {', '.join(left)}")


def register(app: typer.Typer) -> None:
    app.add_typer(deployment_app, name="deployment")
