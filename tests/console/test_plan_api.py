"""The API the console reads: GET /v1/plan (every phase in a window), GET /v1/whoami, and the stream's
lease.scheduled and host.changed events. Against a real `galerna serve`."""
from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone

import httpx
import pytest

pytestmark = pytest.mark.xdist_group("console-serve")


def _iso(dt: datetime) -> str:
    return dt.isoformat()


def test_plan_has_one_row_per_vm_and_host_and_only_the_tenants_leases(server):
    soon = datetime.now(timezone.utc) + timedelta(hours=2)
    with server.client("alice") as a, server.client("bob") as b:
        ar = a.post("/v1/leases", json={"type": "ar", "start": _iso(soon), "duration": 1800, "n_nodes": 2,
                                        "cpu": 1.5, "memory": 512}).json()
        other = b.post("/v1/leases", json={"type": "ar", "start": _iso(soon), "duration": 1800, "cpu": 1,
                                           "memory": 256}).json()
        try:
            window = {"start": _iso(soon - timedelta(minutes=5)), "end": _iso(soon + timedelta(hours=1))}
            got = a.get("/v1/plan", params=window)
            assert got.status_code == 200
            plan = got.json()
            assert {x["lease"] for x in plan["phases"]} == {ar["id"]}
            assert [lease["id"] for lease in plan["leases"]] == [ar["id"]]
            rows = sorted((x for x in plan["phases"] if x["activity"] == "run"), key=lambda x: x["node"])
            assert [x["node"] for x in rows] == [0, 1]
            assert [x["host"] for x in rows] == [p["hosts"] for p in ar["plan"] if p["activity"] == "run"][0]
            assert all(x["part"] == "plan" and x["cpu"] == 1.5 and x["memory"] == 512 for x in rows)
            assert datetime.fromisoformat(rows[0]["start"]) == datetime.fromisoformat(ar["start"])
            assert {h["name"] for h in plan["hosts"]} == {h["name"] for h in a.get("/v1/hosts").json()}
            everyone = server.client("admin").get("/v1/plan", params=window).json()
            assert {ar["id"], other["id"]} <= {x["lease"] for x in everyone["phases"]}
            # a window that ends before the lease starts holds none of its phases
            early = a.get("/v1/plan", params={"start": _iso(soon - timedelta(hours=1)),
                                              "end": _iso(soon - timedelta(minutes=30))}).json()
            assert ar["id"] not in {x["lease"] for x in early["phases"]}
        finally:
            a.delete(f"/v1/leases/{ar['id']}")
            b.delete(f"/v1/leases/{other['id']}")


def test_plan_keeps_the_history_of_a_lease_that_ran(server):
    with server.client("alice") as a:
        im = a.post("/v1/leases", json={"type": "immediate", "duration": 600, "cpu": 0.5, "memory": 64}).json()
        a.delete(f"/v1/leases/{im['id']}")
        done = a.get(f"/v1/leases/{im['id']}").json()
        plan = a.get("/v1/plan").json()
        mine = [x for x in plan["phases"] if x["lease"] == im["id"]]
        assert mine and all(x["part"] == "history" for x in mine)
        assert len(mine) == sum(len(p["hosts"]) for p in done["history"] if p["end"] > p["start"])
        assert next(lease for lease in plan["leases"] if lease["id"] == im["id"])["state"] == "cancelled"


def test_plan_refuses_a_bad_window_naming_the_field(server):
    with server.client("alice") as a:
        r = a.get("/v1/plan", params={"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "end"]
        r = a.get("/v1/plan", params={"start": "yesterday"})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "start"]
    assert httpx.get(server.url + "/v1/plan").status_code == 401


def test_whoami_says_what_the_token_is(server):
    with server.client("alice") as a, server.client("admin") as adm:
        assert a.get("/v1/whoami").json() == {"name": "alice", "tenant": "alice", "admin": False}
        assert adm.get("/v1/whoami").json()["admin"] is True
    bad = httpx.get(server.url + "/v1/whoami", headers={"Authorization": f"Bearer {server.tokens['revoked']}"})
    assert bad.status_code == 401


def test_openapi_documents_the_plan_and_whoami(server):
    doc = httpx.get(server.url + "/openapi.json").json()
    ok = doc["paths"]["/v1/plan"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["$ref"].endswith("/PlanOut")
    assert {"start", "end", "now", "hosts", "leases", "phases"} <= set(doc["components"]["schemas"]["PlanOut"]["properties"])
    assert "/v1/whoami" in doc["paths"]


def test_the_stream_announces_a_scheduled_lease_and_a_host_change(server):
    got: list[dict] = []
    ready = threading.Event()

    def listen() -> None:
        with httpx.Client(base_url=server.url, timeout=30,
                          headers={"Authorization": f"Bearer {server.tokens['admin']}"}) as c:
            with c.stream("GET", "/v1/events") as r:
                for line in r.iter_lines():
                    if line.startswith(":"):
                        ready.set()
                    if line.startswith("data: "):
                        got.append(json.loads(line[6:]))
                        if got[-1]["event"] == "host.changed":
                            return

    th = threading.Thread(target=listen, daemon=True)
    th.start()
    assert ready.wait(10)
    soon = datetime.now(timezone.utc) + timedelta(hours=3)
    with server.client("alice") as a, server.client("admin") as adm:
        ar = a.post("/v1/leases", json={"type": "ar", "start": _iso(soon), "duration": 600, "cpu": 1,
                                        "memory": 128}).json()
        assert adm.post("/v1/hosts/test3/maintenance").status_code == 200
        th.join(20)
        adm.post("/v1/hosts/test3/enable")
        a.delete(f"/v1/leases/{ar['id']}")
    assert any(m["event"] == "lease.scheduled" and m["lease"] == ar["id"] for m in got)
    assert got[-1] == dict(got[-1], event="host.changed", host="test3", action="maintenance")
