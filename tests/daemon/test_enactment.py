"""The daemon with fault-injected hypervisors: host monitoring and recovery, and the failure policy of deploys.

The server runs in this process (uvicorn in a thread) so that the test holds the
``FaultyDriver`` around each libvirt test-driver host: ``Service(drivers=…)`` is
the seam. Everything else is the real daemon: REST API, scheduler loop, SQLite.
"""
from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from helpers import wait_until
import uvicorn

from galerna.api.app import create_app
from galerna.daemon.service import Service
from galerna.daemon.settings import DaemonConfig, Settings
from galerna.enact.config import EnactmentConfig, default_test_hosts
from galerna.enact.driver import OperationKind as Op
from galerna.enact.faults import FaultyDriver
from galerna.enact.libvirt import LibvirtDriver
from galerna.store.db import Store
from tests.daemon.conftest import bound_socket

pytestmark = pytest.mark.xdist_group("daemon-enact")


class InProcess:
    def __init__(self, tmp: Path, **enactment):
        self.tmp = tmp
        data = tmp / "data"
        uris = default_test_hosts(4, data)
        self.faulty = {f"test{i + 1}": FaultyDriver(LibvirtDriver(u, str(data / "state" / f"h{i}")))
                       for i, u in enumerate(uris)}
        drivers = {d.uri: d for d in self.faulty.values()}
        settings = Settings(daemon=DaemonConfig(db=f"sqlite:///{tmp / 'g.db'}", data_dir=str(data), log_json=False),
                            enactment=EnactmentConfig(data_dir="", **enactment))
        self.store = Store(settings.daemon.db)
        self.token = self.store.create_token("admin", admin=True)[1]
        self.service = Service(self.store, settings, drivers=drivers)
        self.sock = bound_socket()  # bound here and handed to uvicorn: no other test can take the port meanwhile
        self.port = self.sock.getsockname()[1]
        self.app = create_app(settings, store=self.store, service=self.service)
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_config=None,
                                                    lifespan="on", timeout_graceful_shutdown=1))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.events: list[dict] = []

    def start(self) -> "InProcess":
        self.thread.start()
        wait_until(lambda: self.server.started, 30, "the server")
        threading.Thread(target=self._sse, daemon=True).start()
        wait_until(lambda: self.app.state.streams.open_count(), 10, "the event stream")
        return self

    def _sse(self) -> None:
        try:
            with self.client() as c, c.stream("GET", "/v1/events", timeout=None) as r:
                for line in r.iter_lines():
                    if line.startswith("data: "):
                        self.events.append(json.loads(line[6:]))
        except httpx.HTTPError:
            pass

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()
        self.store.close()

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30,
                            headers={"Authorization": f"Bearer {self.token}"})

    def host(self, c: httpx.Client, name: str) -> dict:
        return next(h for h in c.get("/v1/hosts").json() if h["name"] == name)

    def vms(self, c: httpx.Client, name: str) -> dict[str, str]:
        return {v["name"]: v["state"] for v in c.get(f"/v1/hosts/{name}/vms").json()}


@pytest.fixture
def inproc(tmp_path):
    made = []

    def make(**enactment) -> InProcess:
        srv = InProcess(tmp_path / str(len(made)), **enactment).start()
        made.append(srv)
        return srv

    yield make
    for srv in made:
        srv.stop()


def test_host_outage_goes_to_error_then_up_and_vms_restart_in_place(inproc):
    srv = inproc(recovery={"reconcile_interval": 0.2, "grace_period": 0.5, "mode": "restart-in-place"})
    with srv.client() as c:
        lease = c.post("/v1/leases", json={"type": "immediate", "duration": 3600, "cpu": 1, "memory": 64}).json()
        assert lease["state"] == "active", lease
        name = lease["hosts"][0]
        vm = f"galerna-{lease['id']}-0"
        wait_until(lambda: srv.vms(c, name).get(vm) == "running", what="the VM to run")

        srv.faulty[name].down(True)
        wait_until(lambda: srv.host(c, name)["health"] == "error", what="host health error")
        assert srv.vms(c, name) == {vm: "unknown"}
        wait_until(lambda: any(e["event"] == "host.down" and e["host"] == name for e in srv.events),
                   what="host.down on the event stream")
        # the host lost power meanwhile: its VM is gone when it answers again
        srv.faulty[name].inner.destroy(vm)
        srv.faulty[name].down(False)
        wait_until(lambda: srv.host(c, name)["health"] == "up", what="host health up")
        wait_until(lambda: any(e["event"] == "host.up" and e["host"] == name for e in srv.events),
                   what="host.up on the event stream")
        # restarted in place (after the grace period), not elsewhere
        wait_until(lambda: srv.vms(c, name).get(vm) == "running", what="the VM restarted in place")
        kinds = wait_until(lambda: (k := [(e["kind"], e["detail"]) for e in
                                          c.get(f"/v1/leases/{lease['id']}/events").json()])
                           and any(x == "recovery" for x, _ in k) and k, what="the recovery in the history")
        assert ("host-down", f"host {name} does not answer; its VMs are unknown") in kinds
        assert any(x == "recovery" and d.startswith("restart-in-place") for x, d in kinds)
        assert c.get(f"/v1/leases/{lease['id']}").json()["state"] == "active"
        for other in srv.faulty:
            if other != name:
                assert vm not in srv.vms(c, other)


def _ar_soon(c: httpx.Client, seconds: float = 3.0) -> dict:
    start = datetime.now(timezone.utc) + timedelta(seconds=seconds)
    r = c.post("/v1/leases", json={"type": "ar", "start": start.isoformat(), "duration": 3600, "cpu": 1,
                                   "memory": 64})
    assert r.status_code == 201, r.text
    return r.json()


@pytest.mark.parametrize("policy", ["requeue", "reschedule", "fail"])
def test_final_deploy_failure_follows_the_failure_policy(inproc, policy):
    srv = inproc(failure={"deploy": policy}, retry={"attempts": 1})
    message = "out of disk space on the pool (injected)"
    with srv.client() as c:
        lease = _ar_soon(c)
        lid, first = lease["id"], lease["plan"][0]["hosts"][0]
        # the planned host fails every deploy (reschedule must go elsewhere), or only once (requeue)
        srv.faulty[first].fail(Op.DEPLOY, times=1 if policy == "requeue" else None, message=message,
                               transient=False)

        vm = f"galerna-{lid}-0"

        def settled():
            x = c.get(f"/v1/leases/{lid}").json()
            ev = c.get(f"/v1/leases/{lid}/events").json()
            done = x["state"] == "failed" if policy == "fail" else (
                x["state"] == "active" and any(e["kind"] == "enactment-failed" for e in ev)
                and srv.vms(c, x["hosts"][0]).get(vm) == "running")
            return done and (x, ev)

        got, events = wait_until(settled, 30, f"the lease to settle under {policy}")
        kinds = [e["kind"] for e in events]
        if policy == "fail":
            assert message in got["reason"] and "enactment-failed" not in kinds
            return
        failed = next(e for e in events if e["kind"] == "enactment-failed")
        assert message in failed["detail"] and failed["detail"].endswith(policy) and failed["hosts"] == [first]
        after = kinds[kinds.index("enactment-failed"):]
        assert "preempted" in after and "scheduled" in after, kinds  # back through the core's queue
        assert any(e["kind"] == "preempted" and e["detail"] == "requeue" for e in events)
        if policy == "reschedule":
            assert got["hosts"] != [first]  # every deploy there fails: it runs elsewhere
        assert any(e["event"] == "lease.requeued" and e["lease"] == lid and message in e["reason"]
                   for e in srv.events)


def test_a_host_in_error_takes_no_new_placement_until_it_answers_again(inproc):
    srv = inproc(recovery={"reconcile_interval": 0.2, "grace_period": 3600, "mode": "manual"})
    whole_host = {"type": "immediate", "duration": 3600, "cpu": 8, "memory": 64}  # a test host has 8 cores
    with srv.client() as c:
        down = "test2"
        srv.faulty[down].down(True)
        wait_until(lambda: srv.host(c, down)["health"] == "error", what="host health error")
        got = [c.post("/v1/leases", json=whole_host) for _ in range(4)]
        assert [r.status_code for r in got] == [201, 201, 201, 409], [r.text for r in got]
        assert sorted(r.json()["hosts"][0] for r in got[:3]) == sorted(set(srv.faulty) - {down})
        assert srv.host(c, down)["state"] == "up"  # not disabled by an admin: only its health keeps it out
        srv.faulty[down].down(False)
        wait_until(lambda: srv.host(c, down)["health"] == "up", what="host health up")
        again = c.post("/v1/leases", json=whole_host)
        assert again.status_code == 201 and again.json()["hosts"] == [down], again.text


def _only_on(c: httpx.Client, srv: InProcess, host: str, leases: list[dict]) -> list[dict]:
    """Submit ``leases`` while every other host is disabled, so that they are planned on ``host``."""
    others = [h for h in srv.faulty if h != host]
    for h in others:
        assert c.post(f"/v1/hosts/{h}/disable").status_code == 200
    out = []
    for body in leases:
        r = c.post("/v1/leases", json=body)
        assert r.status_code == 201, r.text
        out.append(r.json())
    for h in others:
        assert c.post(f"/v1/hosts/{h}/enable").status_code == 200
    return out


_HOUR_BE = {"type": "best_effort", "duration": 3600, "cpu": 4, "memory": 64}


def _be_and_ar_on(c: httpx.Client, srv: InProcess, host: str) -> list[dict]:
    """An hour-long best-effort lease and an hour-long AR starting in 2 s, both planned on ``host``."""
    ar = {**_HOUR_BE, "type": "ar", "start": (datetime.now(timezone.utc) + timedelta(seconds=2)).isoformat()}
    return _only_on(c, srv, host, [_HOUR_BE, ar])


def _history(c: httpx.Client, lid: str) -> list[dict]:
    return c.get(f"/v1/leases/{lid}/events").json()


def test_recovery_reschedule_fences_then_requeues_the_dead_hosts_leases_elsewhere(inproc, tmp_path):
    fenced = tmp_path / "fenced"
    srv = inproc(recovery={"reconcile_interval": 0.2, "grace_period": 0.5, "mode": "reschedule",
                           "fencing_command": f"sh -c 'echo {{host}} {{uri}} >> {fenced}'"})
    dead = "test3"
    with srv.client() as c:
        be, ar = _be_and_ar_on(c, srv, dead)
        assert be["hosts"] == [dead] and ar["plan"][0]["hosts"] == [dead]
        for x in (be, ar):
            wait_until(lambda: srv.vms(c, dead).get(f"galerna-{x['id']}-0") == "running", what="VMs running")
        ar = c.get(f"/v1/leases/{ar['id']}").json()
        assert ar["state"] == "active"
        srv.faulty[dead].down(True)

        def moved(x: dict):
            now = c.get(f"/v1/leases/{x['id']}").json()
            ok = now["state"] == "active" and now["hosts"] and dead not in now["hosts"] and \
                srv.vms(c, now["hosts"][0]).get(f"galerna-{x['id']}-0") == "running"
            return ok and now

        be2 = wait_until(lambda: moved(be), 30, "the best-effort lease to run elsewhere")
        ar2 = wait_until(lambda: moved(ar), 30, "the AR to run elsewhere")
        assert ar2["end"] == ar["end"]  # an AR keeps its end: it is not moved, only restarted elsewhere
        assert fenced.read_text().split() == ["localhost", f"test://{srv.tmp / 'data' / 'test-hosts' / 'host3.xml'}"]
        for x in (be2, ar2):
            kinds = [(e["kind"], e["detail"]) for e in _history(c, x["id"])]
            assert any(k == "host-down" for k, _ in kinds)
            assert any(k == "recovery" and d.startswith("reschedule: host test3 did not answer") for k, d in kinds)
            assert ("preempted", "requeue") in kinds  # back through the core's queue
        assert any(e["event"] == "lease.requeued" and e["lease"] == be["id"] and e["policy"] == "reschedule"
                   for e in srv.events)
        # the host answers again: the copies left there are destroyed, the leases stay where they run now
        srv.faulty[dead].down(False)
        wait_until(lambda: srv.host(c, dead)["health"] == "up", what="host health up")
        wait_until(lambda: not srv.vms(c, dead), 30, "the stale copies on the host that came back to go")
        assert c.get(f"/v1/leases/{be['id']}").json()["hosts"] == be2["hosts"]


def test_recovery_reschedule_fails_an_ar_no_other_host_can_hold_and_requeues_the_rest(inproc):
    srv = inproc(recovery={"reconcile_interval": 0.2, "grace_period": 0.5, "mode": "reschedule"})
    dead = "test1"
    with srv.client() as c:
        be, ar = _be_and_ar_on(c, srv, dead)
        for h in srv.faulty:  # every other host is full for the next hours
            if h != dead:
                r = c.post("/v1/leases", json={"type": "immediate", "duration": 7200, "cpu": 8, "memory": 64})
                assert r.status_code == 201 and r.json()["hosts"] == [h], r.text
        wait_until(lambda: c.get(f"/v1/leases/{ar['id']}").json()["state"] == "active", what="the AR to start")
        wait_until(lambda: srv.vms(c, dead).get(f"galerna-{ar['id']}-0") == "running", what="the AR's VM")
        srv.faulty[dead].down(True)
        failed = wait_until(lambda: (x := c.get(f"/v1/leases/{ar['id']}").json())["state"] == "failed" and x, 30,
                            "the AR to fail")
        assert "host test1 did not answer" in failed["reason"]
        assert "advance reservation cannot be moved" in failed["reason"]
        waiting = c.get(f"/v1/leases/{be['id']}").json()
        assert waiting["state"] in ("queued", "scheduled"), waiting
        assert all(dead not in p["hosts"] for p in waiting["plan"])
        assert any(e["event"] == "lease.failed" and e["lease"] == ar["id"] for e in srv.events)


def test_recovery_reschedule_moves_nothing_when_fencing_fails(inproc):
    srv = inproc(recovery={"reconcile_interval": 0.2, "grace_period": 0.5, "mode": "reschedule",
                           "fencing_command": "sh -c 'echo power switch unreachable; exit 3'"})
    dead = "test2"
    with srv.client() as c:
        (be,) = _only_on(c, srv, dead, [_HOUR_BE])
        wait_until(lambda: srv.vms(c, dead).get(f"galerna-{be['id']}-0") == "running", what="the VM")
        srv.faulty[dead].down(True)
        ev = wait_until(lambda: next((e for e in _history(c, be["id"]) if e["kind"] == "recovery"), None), 30,
                        "the fencing attempt in the history")
        assert ev["detail"].startswith("fencing-failed") and "power switch unreachable" in ev["detail"]
        now = c.get(f"/v1/leases/{be['id']}").json()
        assert now["state"] == "active" and now["hosts"] == [dead]  # never risk a VM running twice
        assert "preempted" not in [e["kind"] for e in _history(c, be["id"])]


def _host_state(svc: Service) -> dict:
    """What the service keeps per host, by name and by URI, that a restart rebuilds from the database."""
    ex = svc.executor
    return {"names": list(svc.names), "uri_of": dict(svc.uri_of), "name_of_uri": dict(svc.name_of_uri),
            "executor": sorted(ex.drivers), "monitor": sorted(svc.monitor.drivers),
            "recovery": sorted(svc.recovery.drivers),
            "health": {u: s.value for u, s in ex.inventory.hosts.items()}}


@pytest.mark.parametrize("new_name", ["test4", "test4b"])
def test_a_removed_host_can_be_added_again_with_its_uri(inproc, new_name):
    srv = inproc(recovery={"reconcile_interval": 0.2, "grace_period": 3600, "mode": "manual"})
    old = "test4"
    uri = srv.faulty[old].uri
    with srv.client() as c:
        assert c.delete(f"/v1/hosts/{old}").status_code == 200
        assert old not in [h["name"] for h in c.get("/v1/hosts").json()]
        assert c.get(f"/v1/hosts/{old}/vms").status_code == 404
        assert uri not in _host_state(srv.service)["executor"]

        r = c.post("/v1/hosts", json={"name": new_name, "uri": uri})
        assert r.status_code == 201, r.text
        assert (r.json()["uri"], r.json()["cpu"], r.json()["health"]) == (uri, 8, "up")
        assert [h["name"] for h in c.get("/v1/hosts").json()] == ["test1", "test2", "test3", new_name]
        taken = c.post("/v1/hosts", json={"name": "another", "uri": uri})
        assert taken.status_code == 409 and f"is already host {new_name}" in taken.text

        # a lease placed there (the other hosts disabled meanwhile) gets its VM on that hypervisor
        others = ["test1", "test2", "test3"]
        for h in others:
            assert c.post(f"/v1/hosts/{h}/disable").status_code == 200
        lease = c.post("/v1/leases", json={"type": "immediate", "duration": 3600, "cpu": 1, "memory": 64})
        assert lease.status_code == 201 and lease.json()["hosts"] == [new_name], lease.text
        for h in others:
            assert c.post(f"/v1/hosts/{h}/enable").status_code == 200
        vm = f"galerna-{lease.json()['id']}-0"
        wait_until(lambda: srv.vms(c, new_name).get(vm) == "running", what="the VM to run on the host added again")
        assert vm in [d.name() for d in srv.faulty[old].inner.connection.listAllDomains()]

        # the monitor watches it under its new name: lifecycle events, and polls that find it down and up again
        wait_until(lambda: (uri, vm) in [(u, n) for u, n, _ in srv.service.monitor.events], what="a lifecycle event")
        srv.faulty[old].down(True)
        wait_until(lambda: srv.host(c, new_name)["health"] == "error", what="host health error")
        srv.faulty[old].down(False)
        wait_until(lambda: srv.host(c, new_name)["health"] == "up", what="host health up")
        assert c.get(f"/v1/leases/{lease.json()['id']}").json()["state"] == "active"
        live = _host_state(srv.service)
        assert live["uri_of"] == {**{f"test{i}": srv.faulty[f"test{i}"].uri for i in (1, 2, 3)}, new_name: uri}

    srv.stop()
    again = InProcess(srv.tmp).start()  # a restart: the service is rebuilt from the same database
    try:
        assert _host_state(again.service) == live
        with again.client() as c:
            assert [h["name"] for h in c.get("/v1/hosts").json()] == ["test1", "test2", "test3", new_name]
            assert c.get(f"/v1/leases/{lease.json()['id']}").json()["hosts"] == [new_name]
            # the test driver's hypervisors live in the process: reconcile starts the VM again, where it was
            assert (vm, "restart", new_name) in again.service.reconciled
            wait_until(lambda: again.vms(c, new_name).get(vm) == "running", what="the VM after the restart")
    finally:
        again.stop()
