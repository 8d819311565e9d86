"""One daemon owns a database (issue 17 §2): a second one exits naming the holder before it touches a hypervisor; the
port is bound before the start-up work; a deleted or replaced SQLite file stops the writes, loudly."""
from __future__ import annotations

import os
import socket
import sqlite3
import subprocess

import pytest

from galerna.store.db import Store
from tests.daemon.conftest import BACKENDS, Server, free_port
from tests.daemon.ownership_helpers import health, log_text, spawn
from tests.helpers import wait_until

pytestmark = pytest.mark.xdist_group("daemon-ownership")

LEASE = {"type": "best_effort", "duration": 600, "cpu": 1, "memory": 64}


@pytest.mark.parametrize("backend", BACKENDS)
def test_second_daemon_on_one_database_exits_naming_the_holder(fresh, backend, tmp_path):
    first = fresh(backend).start()
    second = Server(first.db, tmp_path / "second", port=free_port(), tokens=first.tokens)
    proc = spawn(second)
    rc = proc.wait(120)  # generous: a loaded machine takes long to import
    out = log_text(second)
    assert rc == 1, out
    assert "owned by another Galerna daemon" in out and f"pid {first.proc.pid}" in out, out
    where = first.db.split("///", 1)[1] if backend == "sqlite" else first.db.rsplit("/", 1)[1]
    assert where in out, out
    # it stopped before any start-up work: no hypervisor opened, no test-driver host files written, no port bound
    assert "reconciled" not in out and "scheduler started" not in out
    assert not (second.workdir / "data").exists()
    assert health(second.url) is None
    # and the first one is not disturbed
    with first.client() as c:
        assert c.post("/v1/leases", json=LEASE).status_code == 201


def test_port_clash_is_reported_before_the_start_up_work(fresh):
    srv = fresh()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        srv.port = taken.getsockname()[1]
        rc = spawn(srv).wait(120)
    out = log_text(srv)
    assert rc == 1, out
    assert f"cannot listen on 127.0.0.1:{srv.port}: address already in use" in out, out
    assert "reconciled" not in out and "scheduler started" not in out and "Running upgrade" not in out, out


def _refused_writes(srv: Server, word: str) -> None:
    with srv.client() as c:
        for _ in range(3):
            r = c.post("/v1/leases", json=LEASE)
            assert r.status_code == 503, r.text
            assert word in r.json()["detail"] and "writes are refused" in r.json()["detail"], r.text
        code, h = health(srv.url)
        assert code == 503 and h["status"] == "degraded" and not h["commit"]["ok"], h
        assert word in h["commit"]["error"]
        # reads still answer, from memory
        assert c.get("/v1/leases").status_code == 200
    assert log_text(srv).count('"writes refused"') == 1  # loud, once


def test_deleted_database_file_stops_acknowledging_writes(fresh):
    srv = fresh().start()
    with srv.client() as c:
        assert c.post("/v1/leases", json=LEASE).status_code == 201
    path = srv.db.split("///", 1)[1]
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.unlink(path + suffix)
    _refused_writes(srv, "deleted")


def test_replaced_database_file_stops_acknowledging_writes(fresh, tmp_path):
    srv = fresh().start()
    path = srv.db.split("///", 1)[1]
    other = tmp_path / "other.db"
    sqlite3.connect(other).close()
    os.replace(other, path)
    _refused_writes(srv, "replaced")


def test_health_is_not_ok_while_the_database_is_locked(fresh):
    srv = fresh().start()
    code, h = health(srv.url)
    assert code == 200 and h["status"] == "ok" and h["commit"]["ok"] and h["role"] == "active", h
    assert h["executor"] == "running" and h["monitor"] == "running" and h["loop_lag_s"] < 5
    holder = sqlite3.connect(srv.db.split("///", 1)[1], isolation_level=None, timeout=5)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        code, h = wait_until(lambda: (got := health(srv.url)) and got[0] == 503 and got, timeout=15,
                             what="health to notice the lock")
        assert h["status"] == "degraded" and "locked" in h["commit"]["error"], h
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    wait_until(lambda: (got := health(srv.url)) and got[0] == 200, timeout=15, what="health ok again")


@pytest.fixture
def tiny_disk(tmp_path):
    """A 2 MB tmpfs (mounting needs root: .ci/run runs the suite as root)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_health_is_not_ok_through_a_full_disk(fresh, tiny_disk):
    srv = fresh()
    srv.db = f"sqlite:///{tiny_disk / 'galerna.db'}"
    store = Store(srv.db)
    srv.tokens["admin"] = store.create_token("admin", admin=True)[1]
    store.close()
    srv.start()
    assert health(srv.url)[0] == 200
    with open(tiny_disk / "filler", "wb") as f:  # take every block that is left
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    refused = 0
    with srv.client() as c:
        for i in range(400):  # until the database must grow and cannot
            r = c.post("/v1/leases", json=dict(LEASE, name=f"fill-{i:04d}-" + "x" * 200))
            assert r.status_code in (201, 503), r.text
            if r.status_code == 503:
                refused += 1
                break
    assert refused, "the disk never filled up"
    code, h = wait_until(lambda: (got := health(srv.url)) and got[0] == 503 and got, timeout=15,
                         what="health to say the daemon cannot commit")
    assert h["status"] == "degraded" and not h["commit"]["ok"] and "full" in h["commit"]["error"], h
