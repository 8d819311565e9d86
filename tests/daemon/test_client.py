"""The CLI client (typer app, over HTTP) against a real server."""
from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from galerna.client.command import register
from galerna.daemon.command import register as register_daemon
from tests.daemon.conftest import make_server

pytestmark = pytest.mark.xdist_group("daemon-cli")

app = typer.Typer()


@app.callback()
def _main() -> None:
    pass


register(app)
register_daemon(app)
runner = CliRunner()

LWF = """<?xml version="1.0"?>
<lease-workload name="t">
  <lease-requests>
    <lease-request arrival="00:00:00">
      <lease id="1" preemptible="true">
        <nodes><node-set numnodes="2"><res type="CPU" amount="100"/><res type="Memory" amount="128"/></node-set></nodes>
        <start></start>
        <duration time="00:10:00"/>
        <software><none/></software>
      </lease>
    </lease-request>
    <lease-request arrival="00:00:00">
      <lease id="2" preemptible="false">
        <nodes><node-set numnodes="1"><res type="CPU" amount="100"/><res type="Memory" amount="128"/></node-set></nodes>
        <start><exact time="48:00:00"/></start>
        <duration time="01:00:00"/>
        <software><none/></software>
      </lease>
    </lease-request>
  </lease-requests>
</lease-workload>
"""


def cli(server, *args: str, who: str = "alice"):
    return runner.invoke(app, [*args], env={"GALERNA_URL": server.url, "GALERNA_TOKEN": server.tokens[who]})


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    """One server for the module: each test makes leases and hosts of its own names, which the others do not read."""
    server, drop = make_server("sqlite", tmp_path_factory.mktemp("cli"))
    yield server.start()
    server.stop()
    drop()


def test_lease_request_with_haizea_options(srv):
    r = cli(srv, "lease", "request", "-t", "+48:00:00", "-d", "01:00:00", "-n", "2", "-c", "50", "-m", "512",
            "--non-preemptible", "-i", "debian.img", "-z", "1024", "--json")
    assert r.exit_code == 0, r.output
    lease = json.loads(r.output)
    assert lease["type"] == "ar" and lease["state"] == "scheduled" and lease["duration"] == 3600
    assert lease["nodes"] == [{"cpu": 0.5, "memory": 512.0}] * 2 and lease["preemptible"] is False
    assert lease["image"] == {"id": "debian.img", "size_mb": 1024.0}
    now = cli(srv, "lease", "request", "-t", "now", "-d", "600", "-c", "100", "-m", "64", "--json")
    assert json.loads(now.output)["state"] == "active"
    be = cli(srv, "lease", "request", "-t", "best_effort", "-d", "00:05:00", "--json")
    assert json.loads(be.output)["type"] == "best_effort"
    listed = cli(srv, "lease", "list", "--json")
    assert {x["id"] for x in json.loads(listed.output)} >= {lease["id"]}
    ext = cli(srv, "lease", "extend", lease["id"], "00:30:00")
    assert ext.exit_code == 0 and "ends" in ext.output
    shown = cli(srv, "lease", "show", lease["id"])
    assert shown.exit_code == 0 and "accepted" in shown.output
    assert cli(srv, "lease", "cancel", lease["id"]).output.strip().endswith("cancelled")
    assert cli(srv, "lease", "cancel", lease["id"]).exit_code == 1  # already over
    assert cli(srv, "lease", "show", lease["id"], who="bob").exit_code == 1  # not bob's
    q = cli(srv, "queue", "--json")
    assert q.exit_code == 0 and isinstance(json.loads(q.output), list)


def test_lease_request_from_lwf_file(srv, tmp_path):
    f = tmp_path / "w.lwf"
    f.write_text(LWF)
    r = cli(srv, "lease", "request", "-f", str(f), "--json")
    assert r.exit_code == 0, r.output
    leases = json.loads(r.output)
    assert [x["type"] for x in leases] == ["best_effort", "ar"]
    assert len(leases[0]["nodes"]) == 2 and leases[1]["preemptible"] is False


def test_hosts_and_refusals(srv):
    assert cli(srv, "host", "add", "h9", "--cpu", "4", "--memory", "4096").exit_code == 1  # tenant: 403
    r = cli(srv, "host", "add", "h9", "--cpu", "4", "--memory", "4096", who="admin")
    assert r.exit_code == 0 and "h9: up" in r.output
    assert "h9: disabled" in cli(srv, "host", "disable", "h9", who="admin").output
    assert "h9: up" in cli(srv, "host", "enable", "h9", who="admin").output
    listed = cli(srv, "host", "list", "--json", who="admin")
    assert "h9" in [h["name"] for h in json.loads(listed.output)]
    bad = cli(srv, "lease", "request", "-t", "now", "-d", "60", "-c", "5000")
    assert bad.exit_code == 1 and "host" in bad.output
    ev = runner.invoke(app, ["events", "--count", "1"], env={"GALERNA_URL": srv.url, "GALERNA_TOKEN": "wrong"})
    assert ev.exit_code == 1


def test_token_commands(tmp_path):
    db = f"sqlite:///{tmp_path / 't.db'}"
    r = runner.invoke(app, ["token", "create", "--tenant", "acme", "--db", db])
    assert r.exit_code == 0 and r.stdout.startswith("glr_")
    assert runner.invoke(app, ["token", "create", "--db", db]).exit_code == 2
    listed = runner.invoke(app, ["token", "list", "--db", db])
    assert "acme" in listed.output
    assert runner.invoke(app, ["token", "revoke", "1", "--db", db]).exit_code == 0
    assert runner.invoke(app, ["token", "revoke", "1", "--db", db]).exit_code == 1
