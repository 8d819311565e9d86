"""`galerna serve --opennebula URL` as a real process against the oned double: OpenNebula's VMs are leases in
Galerna's REST API, credentials come from ONE_AUTH, and the secret never reaches the logs."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pyone
import pytest

from galerna.store.db import Store

from .oned_double.double import OnedDouble
from .oned_double.states import Lcm, VmState

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.xdist_group("opennebula-e2e")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(pred, timeout=30.0, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if pred():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def oned_secret():
    """The double with a password that no log line could contain by chance."""
    double = OnedDouble(password="Zq7-s3cr3t-w0rd").start()
    double.start_zmq()
    try:
        yield double
    finally:
        double.stop()


def test_serve_opennebula_end_to_end(oned_secret, tmp_path):
    oned_zmq = oned_secret
    oned_zmq.add_host("node1", 4, 4096)
    auth = tmp_path / "one_auth"
    auth.write_text(oned_zmq.session + "\n")
    password = oned_zmq.session.split(":", 1)[1]
    db = f"sqlite:///{tmp_path / 'g.db'}"
    token = Store(db).create_token("admin", admin=True)[1]
    port = free_port()
    conf = tmp_path / "g.toml"
    conf.write_text('[opennebula]\nplacement = "xmlrpc"\naction_poll = 0.1\nreconcile_interval = 2\n')
    log = tmp_path / "serve.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ONE_AUTH": str(auth), "ONE_ZMQ": oned_zmq.zmq_endpoint,
           "HOME": str(tmp_path)}
    with log.open("w") as out:
        p = subprocess.Popen([sys.executable, "-m", "galerna.cli", "serve", "--opennebula", oned_zmq.url, "-c",
                              str(conf), "--db", db, "--port", str(port), "--data-dir", str(tmp_path / "data")],
                             stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
        try:
            api = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"},
                               timeout=10)
            wait(lambda: api.get("/v1/health").status_code == 200, timeout=90, what="the daemon")  # a loaded CI box
            hosts = api.get("/v1/hosts").json()
            assert [(h["name"], h["cpu"], h["memory"]) for h in hosts] == [("node1", 4.0, 4096.0)]
            one = pyone.OneServer(oned_zmq.url, session=oned_zmq.session)
            vid = one.vm.allocate('NAME = "web"\nCPU = 1\nMEMORY = 1024\n'
                                  'HAIZEA = [ START = "now", DURATION = "00:10:00", PREEMPTIBLE = "no" ]\n', False)
            wait(lambda: [x for x in api.get("/v1/leases").json() if (x["name"] or "").startswith(f"opennebula:{vid}:")],
                 what="the lease in the API")
            (lease,) = [x for x in api.get("/v1/leases").json() if (x["name"] or "").startswith(f"opennebula:{vid}:")]
            assert lease["type"] == "immediate" and lease["nodes"] == [{"cpu": 1.0, "memory": 1024.0}]
            # A lease asked of Galerna's own API would have no OpenNebula VM: refused, saying how to ask for one.
            r = api.post("/v1/leases", json={"type": "best_effort", "duration": 60, "n_nodes": 1, "cpu": 1,
                                             "memory": 512})
            assert r.status_code == 409 and "one.vm.allocate" in r.json()["detail"], r.text
            assert [x["id"] for x in api.get("/v1/leases").json()] == [lease["id"]]  # nothing was queued

            def running():
                with oned_zmq.model.lock:
                    v = oned_zmq.model.vms[vid]
                    return (v.state, v.lcm_state) == (VmState.ACTIVE, Lcm.RUNNING)

            wait(running, what="the VM running")
            wait(lambda: api.get(f"/v1/leases/{lease['id']}").json()["state"] == "active", what="lease active")
            assert api.delete(f"/v1/leases/{lease['id']}").status_code in (200, 202, 204)

            def done():
                with oned_zmq.model.lock:
                    return oned_zmq.model.vms[vid].state == VmState.DONE

            wait(done, what="cancel terminates the VM")
        finally:
            p.terminate()
            p.wait(30)
    text = log.read_text()
    assert "OpenNebula mode" in text
    assert password not in text


def test_serve_opennebula_without_credentials_says_where_it_looked(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HOME": str(tmp_path), "ONE_AUTH": str(tmp_path / "none")}
    r = subprocess.run([sys.executable, "-m", "galerna.cli", "serve", "--opennebula", "http://127.0.0.1:9/RPC2",
                        "--db", f"sqlite:///{tmp_path / 'g.db'}"], env=env, capture_output=True, text=True,
                       timeout=120, cwd=tmp_path)
    assert r.returncode == 2
    assert "no OpenNebula credentials" in r.stderr and str(tmp_path / "none") in r.stderr
