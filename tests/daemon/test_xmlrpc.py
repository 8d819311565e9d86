"""Haizea's XML-RPC interface on a real server, used the way Haizea's client uses it (xmlrpc.client.ServerProxy)."""
from __future__ import annotations

import xml.etree.ElementTree as ET
import xmlrpc.client
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from tests.daemon.conftest import make_server

pytestmark = pytest.mark.xdist_group("daemon-xmlrpc")

BE = """<lease preemptible="true">
  <nodes><node-set numnodes="2"><res type="CPU" amount="100"/><res type="Memory" amount="512"/></node-set></nodes>
  <start/>
  <duration time="00:30:00"/>
  <software><disk-image id="foobar.img" size="1024"/></software>
</lease>"""


def ar_xml(start: datetime, nodes: int = 1) -> str:
    return f"""<lease preemptible="false">
  <nodes><node-set numnodes="{nodes}"><res type="CPU" amount="200"/><res type="Memory" amount="1024"/></node-set></nodes>
  <start><exact time="{start.strftime('%Y-%m-%d %H:%M:%S')}.00"/></start>
  <duration time="01:00:00.00"/>
  <software><none/></software>
</lease>"""


@pytest.fixture(scope="module")
def rpc_server(tmp_path_factory):
    work = tmp_path_factory.mktemp("xmlrpc")
    srv, drop = make_server("sqlite", work)
    cfg = work / "galerna.toml"
    cfg.write_text("[daemon]\nxmlrpc = true\n")
    srv.extra = ["--config", str(cfg)]
    srv.start()
    yield srv
    srv.stop()
    drop()


def proxy(srv, who: str = "alice") -> xmlrpc.client.ServerProxy:
    return xmlrpc.client.ServerProxy(f"http://haizea:{srv.tokens[who]}@127.0.0.1:{srv.port}/RPC2", allow_none=True)


def parse(xml: str) -> ET.Element:
    return ET.fromstring(xml)


def test_create_list_and_cancel_leases_from_lwf_xml(rpc_server):
    s = proxy(rpc_server)
    be_id = s.create_lease(BE)
    start = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=3)
    ar_id = s.create_lease(ar_xml(start, 2))
    assert isinstance(be_id, int) and isinstance(ar_id, int) and be_id != ar_id

    listed = {int(parse(x).get("id")): parse(x) for x in s.get_leases()}
    assert {be_id, ar_id} <= set(listed)
    ar = listed[ar_id]
    assert ar.get("state") == "3" and ar.get("preemptible") == "False"  # Haizea's STATE_SCHEDULED
    assert ar.find("start/exact").get("time").startswith(start.strftime("%Y-%m-%d %H:%M:%S"))
    assert ar.find("duration").get("time") == "01:00:00.00"
    ns = ar.find("nodes/node-set")
    assert ns.get("numnodes") == "2"
    assert {r.get("type"): r.get("amount") for r in ns.findall("res")} == {"CPU": "200", "Memory": "1024"}
    be = listed[be_id]
    assert be.find("start") is not None and len(be.find("start")) == 0  # best effort: an empty <start/>
    assert be.find("software/disk-image").get("id") == "foobar.img"
    assert be.get("galerna-state") in ("active", "scheduled", "queued")

    # the same lease through the REST API
    with rpc_server.client("alice") as c:
        r = c.get(f"/v1/leases/{ar_id}").json()
        assert r["type"] == "ar" and r["state"] == "scheduled" and len(r["nodes"]) == 2
        assert r["nodes"][0] == {"cpu": 2.0, "memory": 1024.0}

    assert s.cancel_lease(ar_id) == 0
    assert ar_id not in {int(parse(x).get("id")) for x in s.get_leases()}
    assert parse(s.get_lease(ar_id)).get("state") == "5"  # STATE_CANCELLED
    with pytest.raises(xmlrpc.client.Fault) as e:
        s.cancel_lease(ar_id)
    assert "already cancelled" in e.value.faultString
    s.cancel_lease(be_id)


def test_queue_hosts_and_tenant_isolation(rpc_server):
    alice, bob = proxy(rpc_server, "alice"), proxy(rpc_server, "bob")
    hosts = alice.get_hosts()
    assert len(hosts) == 4
    assert {h["hostname"] for h in hosts} == {"test1", "test2", "test3", "test4"}
    assert all(h["cpu"] == 800 and h["mem"] == 16384 for h in hosts)  # Haizea units: percent of a core, MB
    assert alice.test_func() == 0
    # fill the site for a week with an AR, then a best-effort lease waits in the queue
    start = datetime.now(timezone.utc) + timedelta(seconds=20)
    big = alice.create_lease(ar_xml(start, 4).replace('amount="200"', 'amount="800"')
                             .replace("01:00:00.00", "7:00:00:00.00"))
    waiting = alice.create_lease(BE)
    queued = [int(parse(x).get("id")) for x in alice.get_queue()]
    assert waiting in queued
    assert waiting not in [int(parse(x).get("id")) for x in bob.get_queue()]
    with pytest.raises(xmlrpc.client.Fault) as e:
        bob.get_lease(waiting)
    assert e.value.faultCode == 404
    alice.cancel_lease(waiting)
    alice.cancel_lease(big)


def test_malformed_xml_is_a_fault_naming_the_problem(rpc_server):
    s = proxy(rpc_server)
    with pytest.raises(xmlrpc.client.Fault) as e:
        s.create_lease("<lease><nodes>")
    assert e.value.faultCode == 400 and "XML error" in e.value.faultString
    with pytest.raises(xmlrpc.client.Fault) as e:
        s.create_lease(BE.replace('<duration time="00:30:00"/>', ""))
    assert "has no <duration>" in e.value.faultString
    with pytest.raises(xmlrpc.client.Fault) as e:
        s.create_lease(ar_xml(datetime(2031, 1, 1)).replace("2031-01-01 00:00:00.00", "next tuesday"))
    assert "next tuesday" in e.value.faultString and "<exact" in e.value.faultString
    with pytest.raises(xmlrpc.client.Fault) as e:
        s.create_lease(BE.replace('type="Memory"', 'type="GPU"'))
    assert "resource gpu" in e.value.faultString


def test_requests_without_a_valid_token_are_refused(rpc_server):
    url = f"http://127.0.0.1:{rpc_server.port}/RPC2"
    with pytest.raises(xmlrpc.client.ProtocolError) as e:
        xmlrpc.client.ServerProxy(url).get_leases()
    assert e.value.errcode == 401
    with pytest.raises(xmlrpc.client.ProtocolError) as e:
        xmlrpc.client.ServerProxy(f"http://x:{rpc_server.tokens['revoked']}@127.0.0.1:{rpc_server.port}/RPC2"
                                  ).get_leases()
    assert e.value.errcode == 401
    # ?token= works as well
    ok = xmlrpc.client.ServerProxy(f"{url}?token={rpc_server.tokens['bob']}")
    assert isinstance(ok.get_leases(), list)
    # the REST API is unchanged
    assert httpx.get(f"http://127.0.0.1:{rpc_server.port}/v1/health").status_code == 200
