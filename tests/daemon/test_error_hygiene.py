"""What errors and files reveal: no SQL text or class names in answers, one log line per failing batch, the SQLite
file 0600 (and its -wal/-shm), and a warning when the API listens beyond loopback."""
from __future__ import annotations

import logging
import stat
import threading
import xmlrpc.client

import httpx
import pytest
import uvicorn
from helpers import wait_until
from sqlalchemy import text

from galerna.api.app import create_app
from galerna.daemon.service import Service
from galerna.daemon.settings import DaemonConfig, Settings
from galerna.store.db import Store
from tests.daemon.conftest import bound_socket

pytestmark = pytest.mark.xdist_group("daemon-hygiene")

BODY = {"type": "best_effort", "duration": 600, "n_nodes": 1, "cpu": 1, "memory": 512}
LEAKS = ("SQL", "INSERT", "no_such_table", "OperationalError", "Traceback", "<class", "RuntimeError", "sqlite3")


@pytest.fixture
def srv(tmp_path):
    st = Settings(daemon=DaemonConfig(db=f"sqlite:///{tmp_path / 'g.db'}", enact=False, log_json=False,
                                      xmlrpc=True))
    store = Store(st.daemon.db)
    token = store.create_token("alice", tenant="alice")[1]
    svc = Service(store, st)
    sock = bound_socket()
    server = uvicorn.Server(uvicorn.Config(create_app(st, store=store, service=svc), log_config=None, lifespan="on",
                                           timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_until(lambda: server.started, 30, "the server")
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    yield svc, url, token
    server.should_exit = True
    thread.join(30)
    sock.close()
    store.close()


def broken_commit(svc):
    """The journal's commit fails the way a database does: an SQLAlchemy error whose text quotes the SQL."""
    def commit(*a, **kw):
        with svc.store.engine.begin() as c:
            c.execute(text("INSERT INTO no_such_table (secret) VALUES ('tenant data')"))
    return commit


def test_a_failing_batch_answers_an_incident_id_and_logs_one_line(srv, caplog):
    svc, url, token = srv
    real = svc.journal.commit
    svc.journal.commit = broken_commit(svc)
    caplog.set_level(logging.DEBUG, logger="galerna")
    try:
        r = httpx.post(f"{url}/v1/leases", json=BODY, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    finally:
        svc.journal.commit = real
    assert r.status_code == 503
    detail = r.json()["detail"]
    assert "incident" in detail and not any(x in detail for x in LEAKS), detail
    incident = detail.split("incident ", 1)[1].split(")", 1)[0]
    loud = [rec for rec in caplog.records if rec.levelno >= logging.INFO and rec.name.startswith("galerna")
            and incident in rec.getMessage()]
    assert len(loud) == 1 and loud[0].levelno == logging.ERROR  # one line for the batch (its rebuild succeeded)
    assert loud[0].exc_info is None and "\n" not in loud[0].getMessage() and len(loud[0].getMessage()) < 400
    assert "SQL:" not in loud[0].getMessage() and "tenant data" not in loud[0].getMessage()
    assert any(rec.levelno == logging.DEBUG and rec.exc_info and incident in rec.getMessage()
               for rec in caplog.records)  # the traceback, once, at debug level
    ok = httpx.post(f"{url}/v1/leases", json=BODY, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert ok.status_code == 201  # the service was rebuilt and goes on


def test_an_unexpected_exception_is_a_500_with_an_id_not_a_class_name(srv, monkeypatch):
    svc, url, token = srv
    monkeypatch.setattr(svc, "resource_types", lambda: (_ for _ in ()).throw(RuntimeError("SELECT * FROM tokens")))
    r = httpx.post(f"{url}/v1/leases", json=BODY, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert r.status_code == 500
    body = r.json()
    assert body["incident"] and body["incident"] in body["detail"]
    assert not any(x in r.text for x in LEAKS + ("SELECT", "tokens")), r.text


def test_xmlrpc_faults_carry_no_class_names_or_sql(srv, monkeypatch):
    svc, url, token = srv
    rpc = xmlrpc.client.ServerProxy(f"http://h:{token}@{url.split('//')[1]}/RPC2", allow_none=True)
    with pytest.raises(xmlrpc.client.Fault) as wrong:
        rpc.get_lease()  # a missing argument
    assert wrong.value.faultCode == 400 and not any(x in wrong.value.faultString for x in LEAKS + ("TypeError",))
    with pytest.raises(xmlrpc.client.Fault) as unknown:
        rpc.no_such_method()
    assert unknown.value.faultCode == 400 and "<class" not in unknown.value.faultString
    monkeypatch.setattr(svc, "resource_types", lambda: (_ for _ in ()).throw(RuntimeError("SELECT * FROM tokens")))
    with pytest.raises(xmlrpc.client.Fault) as internal:
        rpc.create_lease('<lease preemptible="true"><nodes><node-set numnodes="1"><res type="CPU" amount="100"/>'
                         '</node-set></nodes><start/><duration time="00:10:00"/><software><none/></software></lease>')
    assert internal.value.faultCode == 500 and "incident" in internal.value.faultString
    assert not any(x in internal.value.faultString for x in LEAKS + ("SELECT",))
    assert "get_lease" in rpc.system.listMethods()


def test_the_sqlite_files_are_private(tmp_path):
    db = tmp_path / "new" / "galerna.db"
    store = Store(f"sqlite:///{db}")
    store.create_token("admin", admin=True)  # a write: the -wal and -shm files exist now
    for path in (db, db.with_name("galerna.db-wal"), db.with_name("galerna.db-shm")):
        assert path.exists(), path
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, (path, oct(path.stat().st_mode))
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
    store.close()


@pytest.mark.parametrize("host,warns", [("0.0.0.0", True), ("::", True), ("192.168.1.5", True),
                                        ("example.org", True), ("127.0.0.1", False), ("::1", False),
                                        ("localhost", False), ("127.0.0.2", False)])
def test_listening_beyond_loopback_warns(host, warns):
    from galerna.api.exposure import exposure_warning

    w = exposure_warning(host)
    assert (w is not None) is warns
    if warns:
        assert "reachable from the network" in w


def test_serve_logs_the_warning(monkeypatch, tmp_path, caplog):
    """`galerna serve --host 0.0.0.0` says it at start-up (the server is not run here)."""
    import uvicorn as uv
    from typer.testing import CliRunner

    from galerna.cli import app

    monkeypatch.setattr(uv.Server, "run", lambda self, *a, **kw: None)  # serve binds its own socket, then this
    monkeypatch.setattr("galerna.api.logformat.setup_logging", lambda *a, **kw: None)
    caplog.set_level(logging.INFO)
    r = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--port", "0", "--no-enact", "--db",
                                 f"sqlite:///{tmp_path / 'g.db'}"])
    assert r.exit_code == 0, r.output
    warned = [rec for rec in caplog.records if rec.levelno == logging.WARNING and "reachable" in rec.getMessage()]
    assert len(warned) == 1 and "every network interface" in warned[0].getMessage()
    caplog.clear()
    # another database: the first run's lock is still held by this process (its lifespan never ran)
    assert CliRunner().invoke(app, ["serve", "--port", "0", "--no-enact", "--db",
                                    f"sqlite:///{tmp_path / 'h.db'}"]).exit_code == 0
    assert not [rec for rec in caplog.records if "reachable" in rec.getMessage()]
