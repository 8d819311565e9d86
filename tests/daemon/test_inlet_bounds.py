"""Issue 17 section 1: one set of bounds at every inlet of a real server (REST and Haizea's XML-RPC), refusals that
name the field and can always be encoded, and nothing committed for a refused request."""
from __future__ import annotations

import json
import xmlrpc.client

import pytest

from tests.daemon.conftest import make_server

pytestmark = pytest.mark.xdist_group("daemon-inlets")


def lease_xml(start: str = "", duration: str = "01:00:00", numnodes: int = 1, name: str = "") -> str:
    when = f'<exact time="{start}"/>' if start else ""
    named = f' name="{name}"' if name else ""
    return (f'<lease preemptible="false"{named}><nodes><node-set numnodes="{numnodes}"><res type="CPU" amount="100"/>'
            f'<res type="Memory" amount="512"/></node-set></nodes><start>{when}</start>'
            f'<duration time="{duration}"/><software><none/></software></lease>')


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    work = tmp_path_factory.mktemp("inlets")
    s, drop = make_server("sqlite", work)
    cfg = work / "galerna.toml"
    cfg.write_text("[daemon]\nxmlrpc = true\n")
    s.extra = ["--config", str(cfg)]
    s.start()
    yield s
    s.stop()
    drop()


def rpc(srv, who: str = "alice") -> xmlrpc.client.ServerProxy:
    return xmlrpc.client.ServerProxy(f"http://x:{srv.tokens[who]}@127.0.0.1:{srv.port}/RPC2", allow_none=True)


def lease_count(srv) -> int:
    with srv.client("admin") as c:
        r = c.get("/v1/leases", params={"limit": 1000})
        assert r.status_code == 200, r.text
        return len(r.json())


def post_raw(srv, body: str):
    with srv.client("alice") as c:
        return c.post("/v1/leases", content=body.encode("utf-8", "surrogatepass"),
                      headers={"content-type": "application/json"})


@pytest.mark.parametrize("body, field", [
    ('{"type": "best_effort", "duration": NaN}', "duration"),
    ('{"type": "best_effort", "duration": Infinity}', "duration"),
    ('{"type": "best_effort", "duration": -Infinity}', "duration"),
    ('{"type": "best_effort", "duration": 1e400}', "duration"),
    ('{"type": "best_effort", "duration": true}', "duration"),
    ('{"type": "best_effort", "duration": 60, "cpu": NaN}', "cpu"),
    ('{"type": "best_effort", "duration": 60, "n_nodes": true}', "n_nodes"),
    ('{"type": "best_effort", "duration": 60, "preemptible": 1}', "preemptible"),
    ('{"type": "best_effort", "duration": 60, "nodes": [{"cpu": 1, "memory": 1e400}]}', "nodes"),
    ('{"type": "best_effort", "duration": 60, "name": "a\\ud800b"}', "name"),
    ('{"type": "best_effort", "duration": 60, "name": "bell\\u0007"}', "name"),
    ('{"type": "ar", "duration": 60, "start": "9999-06-01T00:00:00Z"}', "start"),
    ('{"type": "best_effort", "duration": 360000000000}', "duration"),
    ('{"type": "best_effort", "duration": 60, "cpu": 0}', "cpu"),
])
def test_rest_refuses_out_of_bounds_values_with_an_encodable_422(srv, body, field):
    before = lease_count(srv)
    r = post_raw(srv, body)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, list) and detail, detail
    assert detail[0]["loc"][0] == "body" and detail[0]["loc"][1] == field, detail
    json.dumps(r.json(), allow_nan=False)  # what it echoes is plain JSON
    assert lease_count(srv) == before


def test_xmlrpc_poison_request_is_refused_before_any_commit(srv):
    s = rpc(srv)
    before = lease_count(srv)
    for xml, field in [(lease_xml(start="9999-06-01 00:00:00"), "start"),
                       (lease_xml(duration="100000000:00:00"), "duration"),
                       (lease_xml(numnodes=1000000), "nodes"),
                       (lease_xml(start="9999-06-01 00:00:00", duration="100000000:00:00", numnodes=1000000), None)]:
        with pytest.raises(xmlrpc.client.Fault) as e:
            s.create_lease(xml)
        assert e.value.faultCode == 400, e.value.faultString
        if field:
            assert field in e.value.faultString
    assert lease_count(srv) == before
    # the same values through REST: the same refusal, naming the same field
    r = post_raw(srv, json.dumps({"type": "ar", "duration": 3600, "start": "9999-06-01T00:00:00Z"}))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "start"]
    for path in ("/v1/leases", "/v1/queue", "/v1/schedule"):
        with srv.client("alice") as c:
            assert c.get(path).status_code == 200


def test_xmlrpc_lease_ids_are_integers_not_anything_int_accepts(srv):
    s = rpc(srv)
    lid = s.create_lease(lease_xml())
    for bad in (lid + 0.5, float(lid), True, "1e0", " 1", [lid]):
        with pytest.raises(xmlrpc.client.Fault) as e:
            s.cancel_lease(bad)
        assert e.value.faultCode == 400, (bad, e.value.faultString)
        with pytest.raises(xmlrpc.client.Fault):
            s.get_lease(bad)
    with pytest.raises(xmlrpc.client.Fault) as e:
        s.notify_event(lid, False)  # False == 0, but it is not Haizea's EVENT_END_VM
    assert e.value.faultCode == 400
    with srv.client("alice") as c:
        assert c.get(f"/v1/leases/{lid}").json()["state"] not in ("cancelled", "done")
    assert s.cancel_lease(str(lid)) == 0  # an id as its decimal text still works, as in Haizea's client
