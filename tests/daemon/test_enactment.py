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
from helpers import poll
import uvicorn

from galerna.api.app import create_app
from galerna.daemon.service import Service
from galerna.daemon.settings import DaemonConfig, Settings
from galerna.enact.config import EnactmentConfig, default_test_hosts
from galerna.enact.driver import OperationKind as Op
from galerna.enact.faults import FaultyDriver
from galerna.enact.libvirt_driver import LibvirtDriver
from galerna.store.db import Store
from tests.daemon.conftest import free_port

pytestmark = pytest.mark.xdist_group("daemon-enact")


def wait_until(pred, timeout: float = 20.0, what: str = "condition"):
    got = poll(pred, timeout)
    if not got:
        raise AssertionError(f"timed out waiting for {what}")
    return got


class InProcess:
    def __init__(self, tmp: Path, **enactment):
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
        self.port = free_port()
        app = create_app(settings, store=self.store, service=self.service)
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None,
                                                    lifespan="on", timeout_graceful_shutdown=1))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.events: list[dict] = []

    def start(self) -> "InProcess":
        self.thread.start()
        wait_until(lambda: self.server.started, 30, "the server")
        threading.Thread(target=self._sse, daemon=True).start()
        wait_until(lambda: self.service.broker.subs, 10, "the event stream")
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
