"""Idempotency-Key on lease creation: a retry after a 503 (the decision timeout passed, the lease was made later)
returns the first lease, never a second one; over REST, XML-RPC and the CLI client.

The server runs in this process so that the test can slow the scheduler's commit down past a decision timeout forced
small (1.5 s, so that an ordinary decision on a loaded CI machine still comes in time; a slowed commit takes 3 s):
the first request is answered 503 while its lease is still being written."""
from __future__ import annotations

import threading
import time
import uuid
import xmlrpc.client

import httpx
import pytest
import uvicorn
from helpers import wait_until
from sqlalchemy import func, select

from galerna.api.app import create_app
from galerna.daemon.service import Service
from galerna.daemon.settings import DaemonConfig, Settings
from galerna.store.db import Store
from galerna.store.models import LeaseRow
from tests.daemon.conftest import bound_socket

pytestmark = pytest.mark.xdist_group("daemon-idempotency")

BODY = {"type": "best_effort", "duration": 600, "n_nodes": 1, "cpu": 1, "memory": 512}
LWF = """<lease preemptible="true"><nodes><node-set numnodes="1"><res type="CPU" amount="100"/>
<res type="Memory" amount="512"/></node-set></nodes><start/><duration time="00:10:00"/>
<software><none/></software></lease>"""


class SlowServer:
    def __init__(self, tmp):
        st = Settings(daemon=DaemonConfig(db=f"sqlite:///{tmp / 'g.db'}", enact=False, decision_timeout=1.5,
                                          log_json=False, xmlrpc=True))
        self.store = Store(st.daemon.db)
        self.alice = self.store.create_token("alice", tenant="alice")[1]
        self.bob = self.store.create_token("bob", tenant="bob")[1]
        self.service = Service(self.store, st)
        self.slow = 0  # the next this-many commits each take 3 s (past the 1.5 s decision timeout)
        commit = self.service.journal.commit

        def slow_commit(*a, **kw):
            if self.slow:
                self.slow -= 1
                time.sleep(3.0)
            return commit(*a, **kw)

        self.service.journal.commit = slow_commit
        self.sock = bound_socket()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(create_app(st, store=self.store, service=self.service),
                                                    log_config=None, lifespan="on", timeout_graceful_shutdown=1))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        wait_until(lambda: self.server.started, 30, "the server")

    def leases(self) -> int:
        with self.store.session() as s:
            return s.scalar(select(func.count()).select_from(LeaseRow))

    def post(self, body: dict, key: str | None, token: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token or self.alice}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        return httpx.post(f"{self.url}/v1/leases", json=body, headers=headers, timeout=30)

    def stop(self):
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()
        self.store.close()


@pytest.fixture
def srv(tmp_path):
    s = SlowServer(tmp_path)
    yield s
    s.stop()


def test_a_retry_after_the_decision_timeout_returns_the_first_lease(srv):
    key = str(uuid.uuid4())
    srv.slow = 1
    first = srv.post(BODY, key)
    assert first.status_code == 503  # the decision timeout passed; the lease is still being written
    wait_until(lambda: srv.leases() == 1, 10, "the first request's lease")
    again = srv.post(BODY, key)
    assert again.status_code == 201, again.text
    assert srv.leases() == 1, "the retry made a second lease"
    lease = again.json()
    assert srv.post(BODY, key).json()["id"] == lease["id"]  # and any later retry too
    assert srv.post(BODY, str(uuid.uuid4())).json()["id"] != lease["id"]  # a new key is a new request


def test_a_retry_in_the_same_batch_as_the_first_makes_no_second_lease(srv):
    """The retry arrives while the first is still in the scheduler's inbox (not committed yet)."""
    key = str(uuid.uuid4())
    srv.slow = 1
    blocker = threading.Thread(target=srv.post, args=(BODY, None))  # holds the scheduler thread in a slow commit
    blocker.start()
    time.sleep(0.1)
    out = []
    both = [threading.Thread(target=lambda: out.append(srv.post(BODY, key))) for _ in range(2)]
    for t in both:
        t.start()
    for t in both + [blocker]:
        t.join(30)
    wait_until(lambda: srv.leases() == 2, 10, "the leases")
    time.sleep(0.3)
    assert srv.leases() == 2  # the blocker's and ONE for the key
    assert all(r.status_code in (201, 503) for r in out)
    again = srv.post(BODY, key)
    assert again.status_code == 201
    assert {r.json()["id"] for r in out if r.status_code == 201} <= {again.json()["id"]}
    assert srv.leases() == 2


def test_same_key_another_body_is_refused_and_keys_are_per_tenant(srv):
    key = str(uuid.uuid4())
    made = srv.post(BODY, key)
    assert made.status_code == 201
    other = srv.post(dict(BODY, duration=1200), key)
    assert other.status_code == 422
    msg = other.json()["detail"][0]["msg"]
    assert "Idempotency-Key" in msg and "another request" in msg
    theirs = srv.post(BODY, key, token=srv.bob)  # bob's key space is his own
    assert theirs.status_code == 201 and theirs.json()["id"] != made.json()["id"]
    assert theirs.json()["tenant"] == "bob"
    assert srv.post(BODY, "x" * 256).status_code == 422  # bounded
    assert srv.leases() == 2


def test_xmlrpc_create_lease_takes_a_key(srv):
    rpc = xmlrpc.client.ServerProxy(f"http://h:{srv.alice}@{srv.url.split('//')[1]}/RPC2", allow_none=True)
    key = str(uuid.uuid4())
    srv.slow = 1
    with pytest.raises(xmlrpc.client.Fault) as busy:
        rpc.create_lease(LWF, key)
    assert "did not answer in time" in busy.value.faultString
    wait_until(lambda: srv.leases() == 1, 10, "the first call's lease")
    lid = rpc.create_lease(LWF, key)
    assert rpc.create_lease(LWF, key) == lid and srv.leases() == 1
    with pytest.raises(xmlrpc.client.Fault) as clash:
        rpc.create_lease(LWF.replace("00:10:00", "00:20:00"), key)
    assert "Idempotency-Key" in clash.value.faultString
    assert rpc.create_lease(LWF) != lid  # without a key: a new lease each time, as before


def test_the_cli_sends_a_key_and_retries_safely(srv):
    from typer.testing import CliRunner

    from galerna.cli import app

    srv.slow = 1  # the CLI's first try is answered 503; its retry (same key) gets the lease
    r = CliRunner().invoke(app, ["lease", "request", "-d", "600", "--json", "--url", srv.url, "--token", srv.alice])
    assert r.exit_code == 0, r.output
    assert srv.leases() == 1
