"""The CLI client over HTTP: `galerna lease|host|queue|events`.

Server and token come from ``--url``/``GALERNA_URL`` (default
http://127.0.0.1:7070) and ``--token``/``GALERNA_TOKEN``. ``galerna lease
request`` also takes Haizea's ``haizea-request-lease`` options.
"""
from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Optional

import httpx
import typer
from rich.console import Console
from rich.table import Table

console = Console()
URL = typer.Option(None, "--url", envvar="GALERNA_URL", help="daemon URL (default http://127.0.0.1:7070)")
TOKEN = typer.Option(None, "--token", envvar="GALERNA_TOKEN", help="bearer token")
JSON = typer.Option(False, "--json", help="print the raw JSON")


def _client(url: str | None, token: str | None) -> httpx.Client:
    if not token:
        typer.echo("no token: give --token or set GALERNA_TOKEN (`galerna token create`)", err=True)
        raise typer.Exit(2)
    return httpx.Client(base_url=url or "http://127.0.0.1:7070", headers={"Authorization": f"Bearer {token}"},
                        timeout=60)


def _call(url: str | None, token: str | None, method: str, path: str, **kw: Any) -> Any:
    try:
        with _client(url, token) as c:
            r = c.request(method, path, **kw)
    except httpx.HTTPError as e:
        typer.echo(f"cannot reach the daemon: {e}", err=True)
        raise typer.Exit(3)
    if r.status_code >= 400:
        try:
            detail = r.json().get("detail")
        except ValueError:
            detail = r.text
        if isinstance(detail, list):
            detail = "; ".join(f"{'.'.join(map(str, d.get('loc', [])[1:]))}: {d.get('msg')}" for d in detail)
        typer.echo(f"error {r.status_code}: {detail}", err=True)
        raise typer.Exit(1)
    return r.json()


RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0)  # seconds before each retry of a lease request (503, or no answer)


def post_once(c: httpx.Client, path: str, body: dict) -> httpx.Response:
    """POST ``body`` with a fresh ``Idempotency-Key``, retried with the same key while the daemon answers 503 or not
    at all: the retries can never make a second lease (the daemon answers the first one's)."""
    import time
    import uuid

    headers = {"Idempotency-Key": str(uuid.uuid4())}
    for delay in (*RETRY_DELAYS, None):
        try:
            r = c.post(path, json=body, headers=headers)
            if r.status_code != 503 or delay is None:
                return r
        except httpx.TransportError as e:
            if delay is None:
                typer.echo(f"cannot reach the daemon: {e}", err=True)
                raise typer.Exit(3)
        time.sleep(delay)
    raise AssertionError("unreachable")


def _short(t: str | None) -> str:
    return "" if not t else t.replace("+00:00", "Z")[:19].replace("T", " ")


def _leases_table(leases: list[dict]) -> Table:
    t = Table("id", "name", "tenant", "type", "state", "nodes", "start", "end", "hosts", "reason")
    for x in leases:
        t.add_row(x["id"], x.get("name") or "", x.get("tenant") or "", x["type"], x["state"], str(len(x["nodes"])),
                  _short(x.get("start")), _short(x.get("end")), ",".join(sorted(set(x["hosts"]))), x.get("reason", ""))
    return t


# ---------------------------------------------------------------- lease
lease_app = typer.Typer(help="Request, list, show, cancel and extend leases.", no_args_is_help=True)


def parse_when(text: str, now: datetime, field: str = "start") -> tuple[str, datetime | None]:
    """Haizea's -t: ``now``, ``best_effort``, ``+HH:MM:SS`` (from now) or an ISO time."""
    from galerna.model.bounds import OutOfBounds
    from galerna.model.units import parse_duration

    if text == "now":
        return "immediate", None
    if text in ("best_effort", "besteffort", "be"):
        return "best_effort", None
    if text.startswith("+"):
        try:
            return "ar", now + timedelta(seconds=parse_duration(text[1:]))
        except OverflowError:  # past year 9999
            raise OutOfBounds(field, "must be between 2000-01-01 and 2200-01-01") from None
    try:
        t = datetime.fromisoformat(text.replace(" ", "T"))
    except ValueError:
        raise typer.BadParameter(f"not now, best_effort, +HH:MM:SS or an ISO time: {text!r}") from None
    return "ar", t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def check_body(b: dict[str, Any]) -> None:
    """The lease bounds every inlet checks (:mod:`galerna.model.bounds`), on a REST body before it is sent, naming
    the body's field as the daemon's 422 would. Raises :class:`~galerna.model.bounds.OutOfBounds`."""
    from galerna.model.bounds import OutOfBounds, check_count, check_lease

    def at(key: str) -> float | None:
        return datetime.fromisoformat(b[key]).timestamp() if b.get(key) else None

    if "nodes" in b:
        nodes = b["nodes"]
    else:
        check_count(b["n_nodes"])
        nodes = [{"cpu": b["cpu"], "memory": b["memory"]}]
    image = b.get("image") or {}
    try:
        check_lease(duration=b["duration"], nodes=nodes, start=at("start"), deadline=at("deadline"),
                    name=b.get("name"), image_id=image.get("id"), image_size=image.get("size_mb"))
    except OutOfBounds as e:
        if "nodes" not in b and e.field.startswith("nodes.0."):  # -c/-m: the body's cpu and memory
            raise OutOfBounds(e.field.rsplit(".", 1)[-1], e.msg) from None
        raise


def lwf_bodies(path: Path, now: datetime) -> list[dict]:
    """The leases of a Haizea LWF file, with its times taken as offsets from now."""
    from galerna.readers.lwf import read_lwf

    wl = read_lwf(path, path.read_bytes())
    kinds = {"ar": "ar", "be": "best_effort", "im": "immediate", "deadline": "deadline"}
    out = []
    for r in wl.requests:
        b: dict[str, Any] = {"type": kinds[r.type.value], "duration": r.duration, "nodes": [dict(n) for n in r.nodes],
                             "preemptible": r.preemptible, "name": f"{path.name}#{r.id}"}
        if r.start is not None:
            b["start"] = (now + timedelta(seconds=r.start)).isoformat()
        if r.deadline is not None:
            b["deadline"] = (now + timedelta(seconds=r.deadline)).isoformat()
        if r.image is not None:
            b["image"] = {"id": r.image.id, "size_mb": r.image.size_mb}
        out.append(b)
    return out


@lease_app.command("request")
def request(
    start: Optional[str] = typer.Option(None, "-t", "--start", help="now | best_effort | ISO time | +HH:MM:SS"),
    duration: Optional[str] = typer.Option(None, "-d", "--duration", help="HH:MM:SS or seconds"),
    numnodes: int = typer.Option(1, "-n", "--numnodes", help="number of VMs"),
    preemptible: bool = typer.Option(True, "--preemptible/--non-preemptible"),
    cpu: float = typer.Option(100.0, "-c", "--cpu", help="CPU per VM in Haizea's percent (100 = one core)"),
    mem: float = typer.Option(1024.0, "-m", "--mem", help="memory per VM, MB"),
    image: Optional[str] = typer.Option(None, "-i", "--vmimage", help="disk image"),
    imagesize: float = typer.Option(0.0, "-z", "--vmimagesize", help="image size, MB"),
    deadline: Optional[str] = typer.Option(None, "--deadline", help="ISO time or +HH:MM:SS: makes a deadline lease"),
    name: Optional[str] = typer.Option(None, "--name"),
    file: Optional[Path] = typer.Option(None, "-f", "--file", help="a Haizea LWF XML file of leases"),
    url: Optional[str] = URL, token: Optional[str] = TOKEN, as_json: bool = JSON,
) -> None:
    """Request a lease (or every lease of an LWF file)."""
    from galerna.model.bounds import OutOfBounds
    from galerna.model.units import parse_duration

    now = datetime.now(timezone.utc)
    try:
        bodies = _bodies(file, start, duration, numnodes, preemptible, cpu, mem, image, imagesize, deadline, name, now)
        for b in bodies:
            check_body(b)
    except OutOfBounds as e:
        typer.echo(f"invalid request: {e}", err=True)
        raise typer.Exit(2)
    _send_requests(bodies, bool(file), url, token, as_json)


def _bodies(file: Path | None, start: str | None, duration: str | None, numnodes: int, preemptible: bool, cpu: float,
            mem: float, image: str | None, imagesize: float, deadline: str | None, name: str | None,
            now: datetime) -> list[dict]:
    """The REST bodies of ``galerna lease request``'s options (or of its LWF file)."""
    from galerna.model.units import parse_duration

    if file is not None:
        bodies = lwf_bodies(file, now)
    else:
        if duration is None:
            raise typer.BadParameter("-d/--duration is needed (or -f FILE)")
        kind, at = parse_when(start or "best_effort", now)
        b: dict[str, Any] = {"type": kind, "duration": parse_duration(duration), "n_nodes": numnodes,
                             "cpu": cpu / 100.0, "memory": mem, "preemptible": preemptible}
        if at is not None:
            b["start"] = at.isoformat()
        if deadline is not None:
            b["type"] = "deadline"
            b.setdefault("start", now.isoformat())
            _, d = parse_when(deadline, now, "deadline")
            b["deadline"] = d.isoformat()
        if image:
            b["image"] = {"id": image, "size_mb": imagesize}
        if name:
            b["name"] = name
        bodies = [b]
    return bodies


def _send_requests(bodies: list[dict], from_file: bool, url: str | None, token: str | None, as_json: bool) -> None:
    out = []
    failed = 0
    with _client(url, token) as c:
        for b in bodies:
            r = post_once(c, "/v1/leases", b)
            if r.status_code in (201, 409):
                lease = r.json() if r.status_code == 201 else r.json()["lease"]
                out.append(lease)
                failed += r.status_code == 409
            else:
                typer.echo(f"error {r.status_code}: {r.text}", err=True)
                raise typer.Exit(1)
    if as_json:
        typer.echo(json.dumps(out if from_file else out[0], indent=1))
    else:
        console.print(_leases_table(out))
    if failed:
        raise typer.Exit(1)


@lease_app.command("list")
def lease_list(state: Optional[list[str]] = typer.Option(None, "--state", "-s"),
               tenant: Optional[str] = typer.Option(None, "--tenant"), limit: int = typer.Option(100, "--limit"),
               url: Optional[str] = URL, token: Optional[str] = TOKEN, as_json: bool = JSON) -> None:
    params: dict[str, Any] = {"limit": limit}
    if state:
        params["state"] = state
    if tenant:
        params["tenant"] = tenant
    leases = _call(url, token, "GET", "/v1/leases", params=params)
    typer.echo(json.dumps(leases, indent=1)) if as_json else console.print(_leases_table(leases))


@lease_app.command("show")
def lease_show(lease_id: str, url: Optional[str] = URL, token: Optional[str] = TOKEN, as_json: bool = JSON) -> None:
    lease = _call(url, token, "GET", f"/v1/leases/{lease_id}")
    if as_json:
        typer.echo(json.dumps(lease, indent=1))
        return
    console.print(_leases_table([lease]))
    t = Table("time", "event", "detail", "state", "hosts")
    for e in _call(url, token, "GET", f"/v1/leases/{lease_id}/events"):
        t.add_row(_short(e["time"]), e["kind"], e["detail"], e["state"], ",".join(e["hosts"]))
    console.print(t)


@lease_app.command("cancel")
def lease_cancel(lease_id: str, url: Optional[str] = URL, token: Optional[str] = TOKEN) -> None:
    lease = _call(url, token, "DELETE", f"/v1/leases/{lease_id}")
    typer.echo(f"lease {lease['id']}: {lease['state']}")


@lease_app.command("extend")
def lease_extend(lease_id: str, by: str = typer.Argument(..., help="HH:MM:SS or seconds; a leading - shortens"),
                 url: Optional[str] = URL, token: Optional[str] = TOKEN) -> None:
    """Extend (or, with -HH:MM:SS, shorten) an advance reservation."""
    from galerna.model.units import parse_duration

    secs = parse_duration(by)
    body = {"extend_by": secs} if secs > 0 else {"shorten_by": -secs}
    lease = _call(url, token, "PATCH", f"/v1/leases/{lease_id}", json=body)
    typer.echo(f"lease {lease['id']}: ends {_short(lease['end'])}")


# ---------------------------------------------------------------- host
host_app = typer.Typer(help="List, add, enable and disable hosts (admin token).", no_args_is_help=True)


@host_app.command("list")
def host_list(url: Optional[str] = URL, token: Optional[str] = TOKEN, as_json: bool = JSON) -> None:
    hosts = _call(url, token, "GET", "/v1/hosts")
    if as_json:
        typer.echo(json.dumps(hosts, indent=1))
        return
    t = Table("name", "uri", "cpu", "memory", "state", "health")
    for h in hosts:
        t.add_row(h["name"], h["uri"] or "", f"{h['cpu']:g}", f"{h['memory']:g}", h["state"], h["health"])
    console.print(t)


@host_app.command("add")
def host_add(name: str, uri: Optional[str] = typer.Option(None, "--uri"), cpu: Optional[float] = typer.Option(None),
             memory: Optional[float] = typer.Option(None), url: Optional[str] = URL,
             token: Optional[str] = TOKEN) -> None:
    h = _call(url, token, "POST", "/v1/hosts", json={k: v for k, v in
                                                     {"name": name, "uri": uri, "cpu": cpu, "memory": memory}.items()
                                                     if v is not None})
    typer.echo(f"host {h['name']}: {h['state']}")


def _host_action(action: str):
    def run(name: str, url: Optional[str] = URL, token: Optional[str] = TOKEN) -> None:
        h = _call(url, token, "POST", f"/v1/hosts/{name}/{action}")
        typer.echo(f"host {h['name']}: {h['state']}")
    run.__doc__ = f"{action.capitalize()} a host."
    return run


for _a in ("enable", "disable", "maintenance"):
    host_app.command(_a)(_host_action(_a))


# ---------------------------------------------------------------- queue, events
def queue(url: Optional[str] = URL, token: Optional[str] = TOKEN, as_json: bool = JSON) -> None:
    """Leases waiting, in submit order."""
    q = _call(url, token, "GET", "/v1/queue")
    if as_json:
        typer.echo(json.dumps(q, indent=1))
        return
    console.print(_leases_table([e["lease"] for e in q]))


def events(url: Optional[str] = URL, token: Optional[str] = TOKEN,
           count: int = typer.Option(0, "--count", help="stop after this many events (0: follow)")) -> None:
    """Follow the daemon's event stream (Server-Sent Events), one JSON object per line."""
    n = 0
    with _client(url, token) as c, c.stream("GET", "/v1/events", timeout=None) as r:
        if r.status_code != 200:
            typer.echo(f"error {r.status_code}", err=True)
            raise typer.Exit(1)
        for line in r.iter_lines():
            if line.startswith("data: "):
                typer.echo(line[6:])
                sys.stdout.flush()
                n += 1
                if count and n >= count:
                    return


def register(app: typer.Typer) -> None:
    app.add_typer(lease_app, name="lease")
    app.add_typer(host_app, name="host")
    app.command("queue")(queue)
    app.command("events")(events)
