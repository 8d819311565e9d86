"""A real `galerna serve` in a subprocess on a free loopback port, on SQLite or PostgreSQL.

PostgreSQL runs need GALERNA_TEST_PG_URL (``bash scripts/postgres_ci.sh start``
prints it); each server gets a database of its own, created here and dropped
at the end.

The ``xdist_group`` marks keep a module on one worker, so its module-scoped
server starts once (with pytest 9 only through the root conftest's fix, see
tests/conftest.py). Nothing relies on it for correctness: every server has its
own directory, database and port (``Server.start`` retries when another process
took the port first), and every test runs alone as well as after the others.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from galerna.daemon.service import Service
from galerna.daemon.settings import DaemonConfig, Settings
from galerna.store.db import Store

PG_URL = os.environ.get("GALERNA_TEST_PG_URL")


def free_port() -> int:
    """A port free *now*. Another process (the other xdist worker, or an outgoing connection) may take it before the
    server binds it: ``Server.start`` then tries another, and checks that what answers is its own server."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bound_socket() -> socket.socket:
    """A listening socket on a free loopback port, for a server in this process (no window for anyone to take it)."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(128)
    return s


@dataclass
class Server:
    db: str
    workdir: Path
    port: int = 0
    proc: subprocess.Popen | None = None
    tokens: dict[str, str] = field(default_factory=dict)
    extra: list[str] = field(default_factory=list)
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 180.0) -> "Server":
        """Start the server (on its port again after a stop or kill, else on a free one). Tests run on two xdist
        workers, each with servers of its own: when the port was taken meanwhile, another is tried. The timeout is
        generous because no test here is about start-up time, and on a loaded machine (load 25 on two cores) a
        start took up to 61 s: a 60 s bound made every test of a module error."""
        for _ in range(5):
            self.port = self.port or free_port()
            if self._start(timeout):
                return self
            self.port = 0  # the port was taken meanwhile
        raise RuntimeError(f"server could not bind a port: see {self.log_path}")

    def _start(self, timeout: float) -> bool:
        env = dict(os.environ, XDG_DATA_HOME=str(self.workdir / "xdg"), PYTHONUNBUFFERED="1")
        self.log_path = self.workdir / f"server-{int(time.time() * 1000)}.log"
        log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "galerna.api", "serve", "--db", self.db, "--port", str(self.port),
             "--data-dir", str(self.workdir / "data"), *self.extra],
            stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log.close()
                if "address already in use" in self.log_path.read_text():
                    return False
                raise RuntimeError(f"server exited with {self.proc.returncode}: see {log.name}")
            try:
                # our own server, not another test's that took the port first: it knows our admin token
                ok = httpx.get(self.url + "/v1/health", timeout=1).status_code == 200 and (
                    "admin" not in self.tokens or httpx.get(self.url + "/v1/hosts", timeout=5, headers={
                        "Authorization": f"Bearer {self.tokens['admin']}"}).status_code == 200)
                if ok:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("server did not come up")

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int | None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                return self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        return None

    def client(self, who: str = "admin") -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.tokens[who]}"}, timeout=30)


def _pg_database() -> tuple[str, callable]:
    import psycopg

    base = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    name = "galerna_t_" + uuid.uuid4().hex[:10]
    with psycopg.connect(base, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    url = PG_URL.rsplit("/", 1)[0] + "/" + name

    def drop() -> None:
        with psycopg.connect(base, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return url, drop


def make_server(backend: str, workdir: Path) -> tuple[Server, callable]:
    workdir.mkdir(parents=True, exist_ok=True)
    if backend == "postgres":
        if not PG_URL:
            pytest.skip("GALERNA_TEST_PG_URL is not set (start one with: bash scripts/postgres_ci.sh start)")
        db, drop = _pg_database()
    else:
        db, drop = f"sqlite:///{workdir / 'galerna.db'}", (lambda: None)
    srv = Server(db, workdir)
    store = Store(db)
    srv.tokens["admin"] = store.create_token("admin", admin=True)[1]
    srv.tokens["alice"] = store.create_token("alice", tenant="alice")[1]
    srv.tokens["bob"] = store.create_token("bob", tenant="bob")[1]
    srv.tokens["revoked"] = store.create_token("old", tenant="alice")[1]
    for r in store.list_tokens():
        if r.name == "old":
            store.revoke_token(r.id)
    store.close()
    return srv, drop


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _served(backend: str, tmp_path_factory):
    srv, drop = make_server(backend, tmp_path_factory.mktemp(f"daemon-{backend}"))
    srv.start()
    yield srv
    srv.stop()
    drop()


@pytest.fixture(scope="module", params=BACKENDS)
def server(request, tmp_path_factory):
    yield from _served(request.param, tmp_path_factory)


@pytest.fixture(scope="package", params=BACKENDS)
def shared_server(request, tmp_path_factory):
    """One server per backend for test_api.py and test_limits_body.py (one xdist group, so one worker), where a
    server start is most of their time: the body-limit tests refuse requests and make one 60 s lease of alice's,
    which takes nothing test_api's tests count on (they book their own hours 30 days ahead, or little now)."""
    yield from _served(request.param, tmp_path_factory)


@pytest.fixture
def fresh(request, tmp_path):
    """A server of one's own (for crash and restart tests); started by the test."""
    made = []

    def make(backend: str = "sqlite") -> Server:
        srv, drop = make_server(backend, tmp_path / backend)
        made.append((srv, drop))
        return srv

    yield make
    for srv, drop in made:
        srv.stop()
        drop()


@pytest.fixture
def svc(tmp_path):
    """An in-process Service on SQLite in ``tmp_path``, enactment off, its scheduler thread running."""
    st = Settings(daemon=DaemonConfig(enact=False, db=f"sqlite:///{tmp_path / 'g.db'}", data_dir=str(tmp_path)))
    s = Service(Store(st.daemon.db), st)
    s.start()
    yield s
    s.stop()
    s.store.close()
