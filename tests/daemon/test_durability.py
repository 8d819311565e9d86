"""kill -9 during a burst of submissions, restart, compare what was acknowledged with what is there."""
from __future__ import annotations

import itertools
import threading
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from tests.daemon.conftest import BACKENDS

pytestmark = pytest.mark.xdist_group("daemon-crash")

FINAL = {"done", "cancelled", "failed", "rejected"}
# what an acknowledged state may have become after a restart
LATER = {
    "queued": {"queued", "scheduled", "active", "done", "cancelled", "failed"},
    "scheduled": {"scheduled", "active", "done", "cancelled", "failed", "queued"},
    "active": {"active", "done", "cancelled", "failed"},
    "rejected": {"rejected"},
}


def all_leases(c: httpx.Client) -> list[dict]:
    out, off = [], 0
    while True:
        page = c.get("/v1/leases", params={"limit": 1000, "offset": off}).json()
        out += page
        if len(page) < 1000:
            return out
        off += 1000


def vms_by_lease(c: httpx.Client) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {}
    for h in c.get("/v1/hosts").json():
        for v in c.get(f"/v1/hosts/{h['name']}/vms").json():
            if v["state"] == "running":
                out.setdefault(v["lease"], []).append((v["name"], h["name"]))
    return out


def assert_nothing_lost_nor_run_twice(c: httpx.Client, leases: dict[str, dict], acked: dict[str, str]) -> None:
    """After a crash: every acknowledged lease is there in a state its acknowledged one can lead to, none is left
    pending, every running lease's VMs run exactly once on the hosts its record names, and no final lease has a VM."""
    missing = sorted(set(acked) - set(leases))
    assert not missing, f"acknowledged but lost: {missing[:10]}"
    for lid, state in acked.items():
        assert leases[lid]["state"] in LATER[state], (lid, state, leases[lid]["state"])
    assert not [x for x in leases.values() if x["state"] == "pending"]
    vms = vms_by_lease(c)
    for lid, lease in leases.items():
        mine = vms.get(lid, [])
        if lease["state"] == "active":
            names = [n for n, _ in mine]
            assert sorted(names) == sorted(set(names)) and len(names) == len(lease["nodes"]), (lid, mine)
            assert sorted(h for _, h in mine) == sorted(lease["hosts"])
        elif lease["state"] in FINAL:
            assert not mine, (lid, lease["state"], mine)


def body(i: int) -> dict:
    k = i % 4
    if k == 0:
        start = datetime.now(timezone.utc) + timedelta(hours=1 + i % 50, minutes=i % 60)
        return {"type": "ar", "start": start.isoformat(), "duration": 600, "cpu": 1, "memory": 64}
    if k == 1:
        return {"type": "immediate", "duration": 3600, "cpu": 0.25, "memory": 32}
    return {"type": "best_effort", "duration": 1800, "n_nodes": 1 + i % 3, "cpu": 1, "memory": 64}


@pytest.mark.parametrize("backend", BACKENDS)
def test_kill9_during_burst_loses_no_acknowledged_lease(fresh, backend):
    srv = fresh(backend).start()
    acked: dict[str, str] = {}
    lock = threading.Lock()
    counter = itertools.count()
    stop = threading.Event()
    errors: list[str] = []

    def client() -> None:
        with srv.client() as c:
            while not stop.is_set():
                i = next(counter)
                try:
                    r = c.post("/v1/leases", json=body(i))
                except httpx.HTTPError:
                    continue  # not acknowledged
                if r.status_code in (201, 409):
                    lease = r.json() if r.status_code == 201 else r.json()["lease"]
                    with lock:
                        acked[lease["id"]] = lease["state"]
                elif r.status_code != 503:
                    errors.append(r.text)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    while len(acked) < 150:
        time.sleep(0.01)
    srv.kill9()
    stop.set()
    for t in threads:
        t.join(30)
    assert not errors
    n_acked = len(acked)
    srv.start()
    with srv.client() as c:
        leases = {x["id"]: x for x in all_leases(c)}
        assert len(leases) >= n_acked
        assert_nothing_lost_nor_run_twice(c, leases, acked)
        # and the service keeps working
        r = c.post("/v1/leases", json={"type": "best_effort", "duration": 60, "cpu": 0.1, "memory": 16})
        assert r.status_code == 201 and int(r.json()["id"]) > max(int(x) for x in leases)


def test_restart_keeps_hosts_plan_and_ends_what_came_due(fresh):
    srv = fresh().start()
    start = datetime.now(timezone.utc) + timedelta(days=2)
    with srv.client() as c:
        ar = c.post("/v1/leases", json={"type": "ar", "start": start.isoformat(), "duration": 3600, "n_nodes": 3,
                                        "cpu": 4}).json()
        run = c.post("/v1/leases", json={"type": "immediate", "duration": 3600, "n_nodes": 2, "cpu": 3}).json()
        short = c.post("/v1/leases", json={"type": "immediate", "duration": 1, "cpu": 1, "memory": 32}).json()
        assert run["state"] == "active" and short["state"] == "active"
    srv.kill9()
    time.sleep(1.5)  # the short lease's end passes while the daemon is down
    srv.start()
    with srv.client() as c:
        ar2 = c.get(f"/v1/leases/{ar['id']}").json()
        run2 = c.get(f"/v1/leases/{run['id']}").json()
        assert ar2["state"] == "scheduled" and ar2["plan"] == ar["plan"]
        assert run2["state"] == "active" and run2["hosts"] == run["hosts"] and run2["end"] == run["end"]
        assert c.get(f"/v1/leases/{short['id']}").json()["state"] == "done"
        vms = vms_by_lease(c)
        assert sorted(h for _, h in vms[run["id"]]) == sorted(run["hosts"])
        assert short["id"] not in vms
        # the restored plan is binding: an AR overlapping the restored one cannot take its cores
        clash = c.post("/v1/leases", json={"type": "ar", "start": start.isoformat(), "duration": 60, "n_nodes": 4,
                                           "cpu": 8})
        assert clash.status_code == 409
        kinds = [e["kind"] for e in c.get(f"/v1/leases/{short['id']}/events").json()]
        assert kinds[-1] == "done"
    # SIGTERM: uvicorn finishes, the scheduler loop stops, then the signal is re-raised (exit -15)
    assert srv.stop() in (0, -15)
    assert '"scheduler stopped"' in srv.log_path.read_text()
