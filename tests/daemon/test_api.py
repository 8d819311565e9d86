"""The REST API against a real server (SQLite, and PostgreSQL when GALERNA_TEST_PG_URL is set).

The default server has four libvirt test-driver hosts of 8 cores and 16 GiB each.
"""
from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from helpers import poll

pytestmark = pytest.mark.xdist_group("daemon")


@pytest.fixture
def server(shared_server):
    """The server this module shares with the other of test_api.py / test_limits_body.py (conftest)."""
    return shared_server


def iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).isoformat()


def far(hours: float) -> datetime:
    """A start far enough ahead that nothing else in the module runs then (each test its own hour)."""
    return datetime.now(timezone.utc) + timedelta(days=30, hours=hours)


def test_best_effort_lease_is_granted_and_listed(server):
    with server.client("alice") as c:
        r = c.post("/v1/leases", json={"type": "best_effort", "duration": 600, "n_nodes": 2, "cpu": 1, "memory": 256,
                                       "name": "be-1"})
        assert r.status_code == 201, r.text
        lease = r.json()
        assert lease["state"] in ("active", "scheduled", "queued")
        assert lease["tenant"] == "alice" and lease["name"] == "be-1" and len(lease["nodes"]) == 2
        got = c.get(f"/v1/leases/{lease['id']}").json()
        assert got["id"] == lease["id"] and got["type"] == "best_effort"
        ids = [x["id"] for x in c.get("/v1/leases", params={"type": "best_effort"}).json()]
        assert lease["id"] in ids
        c.delete(f"/v1/leases/{lease['id']}")


def test_ar_that_does_not_fit_is_refused_with_reason(server):
    t = far(1)
    body = {"type": "ar", "start": iso(t), "duration": 3600, "n_nodes": 4, "cpu": 8, "memory": 1024}
    with server.client("admin") as c:
        first = c.post("/v1/leases", json=body)
        assert first.status_code == 201, first.text
        assert first.json()["state"] == "scheduled"
        assert first.json()["start"].startswith(t.strftime("%Y-%m-%dT%H:%M"))
        second = c.post("/v1/leases", json=body)
        assert second.status_code == 409
        assert "no capacity" in second.json()["detail"]
        assert second.json()["lease"]["state"] == "rejected"
        # the refusal is kept, with its reason, and the reason's time is a date, not a core offset
        again = c.get(f"/v1/leases/{second.json()['lease']['id']}").json()
        assert again["state"] == "rejected" and str(t.year) in again["reason"]
        c.delete(f"/v1/leases/{first.json()['id']}")


def test_immediate_lease_that_does_not_fit_now_is_refused(server):
    with server.client("admin") as c:
        r = c.post("/v1/leases", json={"type": "immediate", "duration": 60, "n_nodes": 1, "cpu": 9, "memory": 128})
        assert r.status_code == 409
        assert "host" in r.json()["detail"]


@pytest.mark.parametrize("body, field", [
    ({"type": "ar", "duration": 60}, "start"),
    ({"type": "best_effort", "duration": -5}, "duration"),
    ({"type": "best_effort", "duration": 60, "nodes": [{"cpu": 1, "gpu": 1}]}, "gpu"),
    ({"type": "deadline", "duration": 600, "start": "2031-01-01T00:00:00Z", "deadline": "2031-01-01T00:05:00Z"},
     "deadline"),
    ({"type": "weekly", "duration": 60}, "type"),
    ({"type": "best_effort", "duration": 60, "colour": "red"}, "colour"),
])
def test_validation_errors_name_the_field(server, body, field):
    with server.client("alice") as c:
        r = c.post("/v1/leases", json=body)
    assert r.status_code == 422, r.text
    locs = [err["loc"] for err in r.json()["detail"]]
    assert any(field in map(str, loc) for loc in locs), locs


def test_nul_characters_are_refused_naming_the_field(server):
    # PostgreSQL cannot store NUL; schemathesis found the 500 this used to give there.
    with server.client("admin") as c:
        r = c.get("/v1/leases", params={"tenant": "a\x00b"})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "tenant"]
        r = c.post("/v1/leases", json={"type": "best_effort", "duration": 60, "name": "x\x00"})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body"]
        assert c.get("/v1/leases", params={"tenant": "ab"}).status_code == 200


def test_cancel_then_cancel_again_is_refused(server):
    with server.client("alice") as c:
        lid = c.post("/v1/leases", json={"type": "ar", "start": iso(far(2)), "duration": 60}).json()["id"]
        r = c.delete(f"/v1/leases/{lid}")
        assert r.status_code == 200 and r.json()["state"] == "cancelled"
        assert r.json()["plan"] == []
        assert c.delete(f"/v1/leases/{lid}").status_code == 409
        kinds = [e["kind"] for e in c.get(f"/v1/leases/{lid}/events").json()]
        assert kinds[0] == "submitted" and "accepted" in kinds and kinds[-1] == "cancelled"


def test_ar_extend_shorten_and_refused_extension(server):
    t = far(3)
    with server.client("admin") as c:
        a = c.post("/v1/leases", json={"type": "ar", "start": iso(t), "duration": 3600, "n_nodes": 4, "cpu": 4}).json()
        end = datetime.fromisoformat(a["end"])
        longer = c.patch(f"/v1/leases/{a['id']}", json={"extend_by": 1800})
        assert longer.status_code == 200, longer.text
        assert datetime.fromisoformat(longer.json()["end"]) == end + timedelta(seconds=1800)
        # a second AR right after the (extended) end takes all the cores ...
        b = c.post("/v1/leases", json={"type": "ar", "start": iso(end + timedelta(seconds=1800)), "duration": 600,
                                       "n_nodes": 4, "cpu": 8})
        assert b.status_code == 201, b.text
        # ... so extending the first one again is refused with a reason
        refused = c.patch(f"/v1/leases/{a['id']}", json={"extend_by": 60})
        assert refused.status_code == 409 and "no capacity" in refused.json()["detail"]
        shorter = c.patch(f"/v1/leases/{a['id']}", json={"shorten_by": 3000})
        assert datetime.fromisoformat(shorter.json()["end"]) == end - timedelta(seconds=1200)
        assert c.patch(f"/v1/leases/{a['id']}", json={"extend_by": 5, "shorten_by": 5}).status_code == 422
        ended = c.patch(f"/v1/leases/{a['id']}", json={"end_now": True})
        assert ended.status_code == 200 and ended.json()["state"] == "cancelled"
        be = c.post("/v1/leases", json={"type": "best_effort", "duration": 60, "cpu": 0.1, "memory": 16}).json()
        assert c.patch(f"/v1/leases/{be['id']}", json={"extend_by": 5}).status_code == 409
        for x in (b.json()["id"], be["id"]):
            c.delete(f"/v1/leases/{x}")


def test_queue_and_schedule_window(server):
    t = far(4)
    with server.client("bob") as c:
        ar = c.post("/v1/leases", json={"type": "ar", "start": iso(t), "duration": 3600, "cpu": 2}).json()
        q = c.get("/v1/queue").json()
        assert any(e["lease"]["id"] == ar["id"] for e in q)
        assert all(e["lease"]["tenant"] == "bob" for e in q)
        rs = c.get("/v1/schedule", params={"start": iso(t - timedelta(minutes=1)),
                                           "end": iso(t + timedelta(minutes=1))}).json()
        mine = [r for r in rs if r["lease"] == ar["id"]]
        assert mine and mine[0]["activity"] == "run" and len(mine[0]["hosts"]) == 1
        none = c.get("/v1/schedule", params={"start": iso(t + timedelta(hours=2)),
                                             "end": iso(t + timedelta(hours=3))}).json()
        assert all(r["lease"] != ar["id"] for r in none)
        c.delete(f"/v1/leases/{ar['id']}")


def test_tenant_isolation(server):
    with server.client("alice") as a, server.client("bob") as b, server.client("admin") as adm:
        mine = a.post("/v1/leases", json={"type": "ar", "start": iso(far(5)), "duration": 60}).json()
        assert b.get(f"/v1/leases/{mine['id']}").status_code == 404
        assert b.delete(f"/v1/leases/{mine['id']}").status_code == 404
        assert b.patch(f"/v1/leases/{mine['id']}", json={"extend_by": 5}).status_code == 404
        assert b.get(f"/v1/leases/{mine['id']}/events").status_code == 404
        assert all(x["tenant"] == "bob" for x in b.get("/v1/leases").json())
        assert mine["id"] not in [x["id"] for x in b.get("/v1/leases", params={"tenant": "alice"}).json()]
        assert all(r["tenant"] == "bob" for r in b.get("/v1/schedule").json())
        # a tenant cannot file a lease for another tenant
        r = b.post("/v1/leases", json={"type": "best_effort", "duration": 60, "tenant": "alice"})
        assert r.status_code == 422
        # admins see everyone's
        assert adm.get(f"/v1/leases/{mine['id']}").json()["tenant"] == "alice"
        assert mine["id"] in [x["id"] for x in adm.get("/v1/leases", params={"tenant": "alice"}).json()]
        assert a.get(f"/v1/leases/{mine['id']}").status_code == 200
        a.delete(f"/v1/leases/{mine['id']}")


def test_tokens(server):
    assert httpx.get(server.url + "/v1/leases").status_code == 401
    assert httpx.get(server.url + "/v1/leases", headers={"Authorization": "Bearer nope"}).status_code == 401
    with server.client("revoked") as c:
        assert c.get("/v1/leases").status_code == 401
    with server.client("alice") as c:
        assert c.post("/v1/hosts", json={"name": "x", "cpu": 1, "memory": 1}).status_code == 403
        assert c.post("/v1/hosts/test1/disable").status_code == 403
        assert c.get("/v1/hosts").status_code == 200


def test_host_management(server):
    with server.client("admin") as c:
        r = c.post("/v1/hosts", json={"name": "extra1", "cpu": 32, "memory": 65536})
        assert r.status_code == 201, r.text
        assert r.json()["state"] == "up"
        assert c.post("/v1/hosts", json={"name": "extra1", "cpu": 32, "memory": 65536}).status_code == 409
        # only the new host has 32 cores: a 32-core immediate lease lands there
        big = c.post("/v1/leases", json={"type": "immediate", "duration": 3600, "cpu": 32, "memory": 1024})
        assert big.status_code == 201 and big.json()["hosts"] == ["extra1"]
        assert c.delete("/v1/hosts/extra1").status_code == 409  # in use
        assert c.post("/v1/hosts/extra1/maintenance").json()["state"] == "maintenance"
        c.delete(f"/v1/leases/{big.json()['id']}")
        # disabled: nothing new lands there
        refused = c.post("/v1/leases", json={"type": "immediate", "duration": 60, "cpu": 32, "memory": 1024})
        assert refused.status_code == 409
        assert c.post("/v1/hosts/extra1/enable").json()["state"] == "up"
        again = c.post("/v1/leases", json={"type": "immediate", "duration": 60, "cpu": 32, "memory": 1024})
        assert again.status_code == 201
        c.delete(f"/v1/leases/{again.json()['id']}")
        assert c.post("/v1/hosts/extra1/disable").json()["state"] == "disabled"
        assert c.delete("/v1/hosts/extra1").status_code == 200
        assert "extra1" not in [h["name"] for h in c.get("/v1/hosts").json()]
        assert c.post("/v1/hosts/nosuch/enable").status_code == 404


def test_event_stream_announces_a_started_lease(server):
    got: list[dict] = []
    ready = threading.Event()

    def listen() -> None:
        with httpx.Client(base_url=server.url, timeout=30,
                          headers={"Authorization": f"Bearer {server.tokens['bob']}"}) as c:
            with c.stream("GET", "/v1/events") as r:
                for line in r.iter_lines():
                    if line.startswith(":"):
                        ready.set()
                    if line.startswith("data: "):
                        got.append(json.loads(line[6:]))
                        if got[-1]["event"] == "lease.started":
                            return

    th = threading.Thread(target=listen, daemon=True)
    th.start()
    assert ready.wait(10)
    with server.client("alice") as a:  # alice's event must not reach bob
        other = a.post("/v1/leases", json={"type": "immediate", "duration": 600, "cpu": 0.1, "memory": 16}).json()
    with server.client("bob") as c:
        lease = c.post("/v1/leases", json={"type": "immediate", "duration": 600, "cpu": 0.1, "memory": 16}).json()
        th.join(20)
        assert got and got[-1]["event"] == "lease.started" and got[-1]["lease"] == lease["id"]
        assert all(m.get("tenant") == "bob" for m in got if "lease" in m)
        c.delete(f"/v1/leases/{lease['id']}")
    with server.client("alice") as a:
        a.delete(f"/v1/leases/{other['id']}")


def test_running_lease_has_its_vms_on_the_hypervisors(server):
    with server.client("admin") as c:
        lease = c.post("/v1/leases", json={"type": "immediate", "duration": 600, "n_nodes": 2, "cpu": 0.5,
                                           "memory": 64}).json()
        assert lease["state"] == "active"
        # "active" is the scheduler's decision; the deploys reach the hypervisors through the
        # gate (one operation per host at a time), so wait for them rather than race them.
        want = [f"galerna-{lease['id']}-0", f"galerna-{lease['id']}-1"]
        _wait(lambda: sorted(_vms(c, lease["id"])) == want)
        c.delete(f"/v1/leases/{lease['id']}")
        _wait(lambda: not _vms(c, lease["id"]))


def _vms(c: httpx.Client, lid: str) -> list[str]:
    out = []
    for h in c.get("/v1/hosts").json():
        if h["uri"]:
            out += [v["name"] for v in c.get(f"/v1/hosts/{h['name']}/vms").json() if v["lease"] == lid]
    return out


def _wait(cond, timeout: float = 10.0) -> None:
    assert poll(cond, timeout)
