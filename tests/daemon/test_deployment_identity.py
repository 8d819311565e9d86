"""Deployment identity: a daemon touches only the VMs of its own database, and never destroys on a fresh one.

Two daemons, two databases, the same libvirt test-driver hosts (``Service(drivers=...)`` hands both the same
connections, as a wrong ``--db`` on the same machine would)."""
from __future__ import annotations

from pathlib import Path

import pytest
from helpers import wait_until

from galerna.daemon.service import Service
from galerna.daemon.settings import DaemonConfig, Settings
from galerna.enact.config import EnactmentConfig, RetryConfig, default_test_hosts
from galerna.enact.driver import VMState
from galerna.enact.libvirt import LibvirtDriver
from galerna.store.db import Store

pytestmark = pytest.mark.xdist_group("daemon-enact")


def settings(db: Path, data: Path) -> Settings:
    return Settings(daemon=DaemonConfig(db=f"sqlite:///{db}", data_dir=str(data), log_json=False),
                    enactment=EnactmentConfig(data_dir="", retry=RetryConfig(attempts=2, backoff_initial=0.01,
                                                                            backoff_max=0.02, jitter=0.0)))


@pytest.fixture
def drivers(tmp_path):
    data = tmp_path / "data"
    uris = default_test_hosts(2, data)
    out = {u: LibvirtDriver(u, str(data / "state" / f"h{i}")) for i, u in enumerate(uris)}
    yield out
    for d in out.values():
        d.close()


def running(drivers) -> dict[str, VMState]:
    return {v.name: v.state for d in drivers.values() for v in d.list() if v.name.startswith("galerna-")}


def start(tmp_path: Path, name: str, drivers) -> Service:
    svc = Service(Store(f"sqlite:///{tmp_path / name}"), settings(tmp_path / name, tmp_path / "data"),
                  drivers=drivers)
    svc.start()
    return svc


def test_a_daemon_on_a_new_database_destroys_nothing_and_reports(tmp_path, drivers, caplog):
    first = start(tmp_path, "first.db", drivers)
    view = first.submit(type="im", duration=3600, nodes=[{"cpu": 1, "memory": 64}]).result(10)
    vm = f"galerna-{view['id']}-0"
    wait_until(lambda: running(drivers).get(vm) is VMState.RUNNING, 20, "the first daemon's VM")
    first.stop()
    first.store.close()

    # a wrong --db: a new, empty database on the same hosts
    second = start(tmp_path, "second.db", drivers)
    try:
        assert running(drivers).get(vm) is VMState.RUNNING, "a daemon on a new database destroyed a VM"
        assert second.deployment.id != first.deployment.id
        assert second.deployment.fresh
        assert [(f.vm, f.deployment) for f in second.deployment.foreign] == [(vm, first.deployment.id)]
        assert any("other deployments" in r.getMessage() and vm in r.getMessage() for r in caplog.records)
        # the monitor and recovery leave it alone too
        second.hosts.monitor.poll()
        second.hosts.recovery.tick(second.hosts.monitor.seen)
        assert running(drivers).get(vm) is VMState.RUNNING
        # only an explicit operator action removes it
        done = second.destroy_foreign([vm])
        assert done == [vm]
        assert vm not in running(drivers)
        assert second.deployment.foreign == []
    finally:
        second.stop()
        second.store.close()


def test_own_orphans_are_still_cleaned_up(tmp_path, drivers):
    """A VM stamped with this database's own deployment id that the database no longer knows is removed as before."""
    first = start(tmp_path, "own.db", drivers)
    view = first.submit(type="im", duration=3600, nodes=[{"cpu": 1, "memory": 64}]).result(10)
    vm = f"galerna-{view['id']}-0"
    wait_until(lambda: running(drivers).get(vm) is VMState.RUNNING, 20, "the VM")
    deployment = first.deployment.id
    first.stop()
    with first.store.engine.begin() as c:  # the lease is gone from the database (as if it ended while down)
        c.exec_driver_sql("UPDATE leases SET state = 'done'")
    first.store.close()
    again = start(tmp_path, "own.db", drivers)
    try:
        assert again.deployment.id == deployment and not again.deployment.fresh
        assert vm not in running(drivers)
        assert (vm, "cleanup-orphan") in [(v, verdict) for v, verdict, _ in again.reconciled]
    finally:
        again.stop()
        again.store.close()


def test_a_new_lease_never_takes_over_a_foreign_vm_of_the_same_name(tmp_path, drivers):
    """Both databases number their leases from 1: the second's lease 1 must not adopt the first's VM galerna-1-0
    as its own (deploy refuses, naming the owner), and the foreign VM keeps running."""
    first = start(tmp_path, "a.db", drivers)
    view = first.submit(type="im", duration=3600, nodes=[{"cpu": 1, "memory": 64}]).result(10)
    vm = f"galerna-{view['id']}-0"
    wait_until(lambda: running(drivers).get(vm) is VMState.RUNNING, 20, "the first daemon's VM")
    owner = next(v for d in drivers.values() for v in d.list() if v.name == vm).host
    first.stop()
    first.store.close()
    second = start(tmp_path, "b.db", drivers)
    try:
        for n, u in second.uri_of.items():  # only the host that runs the foreign VM takes new leases
            if u != owner:
                second.change_host("disable", n).result(10)
        mine = second.submit(type="be", duration=3600, nodes=[{"cpu": 1, "memory": 64}]).result(10)
        assert f"galerna-{mine['id']}-0" == vm  # the same name
        failed = wait_until(lambda: [e["detail"] for e in lease_events(second, mine["id"])
                                     if e["kind"] == "enactment-failed"], 20, "the refused deploy")
        detail = failed[0]
        assert f"deployment {first.deployment.id}" in detail and "left alone" in detail
        info = next(v for d in drivers.values() for v in d.list() if v.name == vm)
        assert info.state is VMState.RUNNING and info.deployment == first.deployment.id
    finally:
        second.stop()
        second.store.close()


def lease_events(svc: Service, lease_id: str) -> list[dict]:
    from galerna.store.models import LeaseEventRow

    with svc.store.session() as s:
        rows = s.query(LeaseEventRow).filter(LeaseEventRow.lease_seq == int(lease_id)).all()
    return [{"kind": r.kind, "detail": r.detail} for r in rows]


def test_foreign_vms_are_listed_and_destroyed_only_by_the_operator_over_http_and_cli(tmp_path, drivers):
    """GET /v1/deployment lists what the new database's daemon left alone; `galerna deployment destroy-foreign`
    (POST /v1/deployment/destroy-foreign, admin only) is the one way to remove it."""
    import threading

    import httpx
    import uvicorn
    from typer.testing import CliRunner

    from galerna.api.app import create_app
    from galerna.cli import app as cli
    from tests.daemon.conftest import bound_socket

    first = start(tmp_path, "one.db", drivers)
    view = first.submit(type="im", duration=3600, nodes=[{"cpu": 1, "memory": 64}]).result(10)
    vm = f"galerna-{view['id']}-0"
    wait_until(lambda: running(drivers).get(vm) is VMState.RUNNING, 20, "the first daemon's VM")
    first.stop()
    first.store.close()

    st = settings(tmp_path / "two.db", tmp_path / "data")
    store = Store(st.daemon.db)
    admin = store.create_token("admin", admin=True)[1]
    tenant = store.create_token("t", tenant="t")[1]
    svc = Service(store, st, drivers=drivers)
    sock = bound_socket()
    server = uvicorn.Server(uvicorn.Config(create_app(st, store=store, service=svc), log_config=None, lifespan="on",
                                           timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        wait_until(lambda: server.started, 30, "the server")
        got = httpx.get(f"{url}/v1/deployment", headers={"Authorization": f"Bearer {admin}"}).json()
        assert got["fresh"] is True and got["id"] == svc.deployment.id
        assert got["foreign"] == [{"vm": vm, "host": got["foreign"][0]["host"], "deployment": first.deployment.id,
                                   "lease": view["id"]}]
        assert httpx.get(f"{url}/v1/deployment", headers={"Authorization": f"Bearer {tenant}"}).status_code == 403
        runner = CliRunner()
        shown = runner.invoke(cli, ["deployment", "show", "--url", url, "--token", admin])
        assert shown.exit_code == 0 and vm in shown.output and "new database" in shown.output
        assert runner.invoke(cli, ["deployment", "destroy-foreign", "--url", url, "--token", admin]).exit_code == 2
        assert running(drivers).get(vm) is VMState.RUNNING
        done = runner.invoke(cli, ["deployment", "destroy-foreign", vm, "--url", url, "--token", admin])
        assert done.exit_code == 0 and f"destroyed {vm}" in done.output
        assert vm not in running(drivers)
        assert httpx.get(f"{url}/v1/deployment", headers={"Authorization": f"Bearer {admin}"}).json()["foreign"] == []
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
        store.close()
