"""One daemon owns a database at a time: a file lock beside an SQLite file, a session advisory lock on PostgreSQL.

A second daemon on the same database would schedule the same capacity twice and start the same VMs twice. The lock
is taken before the daemon migrates the schema or opens any hypervisor, and held for the daemon's whole life: by an
open file descriptor (``flock`` is released by the kernel when the process dies, ``kill -9`` included) or by one
dedicated PostgreSQL connection (the server releases a session lock when the connection ends, which a killed
process's socket does at once). The holder says who it is (pid, host, the URL it serves): the lock file holds it on
SQLite, the lock connection's ``application_name`` on PostgreSQL, so a refused daemon can name it.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import threading
import time
import zlib
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

log = logging.getLogger("galerna.daemon")

#: the advisory lock's key: advisory locks are per database, so one constant key means "owns this database"
LOCK_KEY = zlib.crc32(b"galerna.owner")


class DatabaseOwned(Exception):
    """Another daemon holds the database: the message names the database and the holder."""


def sqlite_path(url: str) -> str | None:
    """The file of an SQLite URL (None: in memory, or not SQLite)."""
    if not url.startswith("sqlite") or "///" not in url:
        return None
    path = url.split("///", 1)[1].split("?", 1)[0]
    return None if path in ("", ":memory:") else path


def describe_holder(info: dict) -> str:
    parts = [f"pid {info['pid']}" if info.get("pid") else "", f"on {info['host']}" if info.get("host") else "",
             f"serving {info['url']}" if info.get("url") else ""]
    return " ".join(p for p in parts if p) or "another process"


class Ownership:
    """The lock of one database. ``try_acquire`` once, or ``acquire(wait=True)`` as a standby does; ``lost`` says
    why the lock is no longer held (None while it is)."""

    where: str  # the database, without credentials, for messages

    def __init__(self, advertise: str = ""):
        self.me = {"pid": os.getpid(), "host": socket.gethostname(), "url": advertise}
        self.held = False

    def try_acquire(self) -> bool:
        raise NotImplementedError

    def holder(self) -> dict:
        """Who holds the lock now ({} if nobody could be told)."""
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError

    @property
    def lost(self) -> str | None:
        return None

    def refusal(self) -> DatabaseOwned:
        return DatabaseOwned(f"the database {self.where} is owned by another Galerna daemon "
                             f"({describe_holder(self.holder())}); one daemon owns a database at a time "
                             f"(start this one with --standby to wait for it)")

    def acquire(self, wait: bool = False, poll: float = 0.5, stop: threading.Event | None = None) -> None:
        """Take the lock, or raise :class:`DatabaseOwned`; with ``wait``, retry every ``poll`` seconds until taken
        (or ``stop`` is set: then DatabaseOwned)."""
        while not self.try_acquire():
            if not wait or (stop is not None and stop.is_set()):
                raise self.refusal()
            (stop or threading.Event()).wait(poll)


class FileOwnership(Ownership):
    """``flock`` on ``DB.lock`` beside the SQLite file; the file holds the holder's pid, host and URL as JSON."""

    def __init__(self, db_path: str, advertise: str = ""):
        super().__init__(advertise)
        self.path = Path(db_path).absolute().with_name(Path(db_path).name + ".lock")
        self.where = str(Path(db_path).absolute())
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(self.me | {"since": time.time()}).encode(), 0)
        self._fd, self.held = fd, True
        return True

    def holder(self) -> dict:
        try:
            return json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            return {}

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd, self.held = None, False


class AdvisoryOwnership(Ownership):
    """``pg_try_advisory_lock`` on one connection of its own, kept open (and checked every ``check_every`` seconds)
    for the daemon's life. The connection's ``application_name`` says who holds it."""

    def __init__(self, url: str, advertise: str = "", check_every: float = 2.0):
        super().__init__(advertise)
        self.where = _redact(url)
        self.engine = create_engine(url, poolclass=NullPool)
        self.check_every = check_every
        self._conn = None
        self._lost: str | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def _name(self) -> str:
        # application_name holds 63 bytes: pid and host here; the URL is in the meta table (see daemon/standby.py)
        return f"galerna pid={self.me['pid']} host={self.me['host']}"[:63]

    def try_acquire(self) -> bool:
        try:
            if self._conn is None:
                self._conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
                self._conn.execute(text("SELECT set_config('application_name', :n, false)"), {"n": self._name()})
            got = self._conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY}).scalar()
        except Exception:
            self._drop()  # a standby tries again on a new connection
            raise
        if not got:
            return False
        self.held = True
        threading.Thread(target=self._watch, name="galerna-ownership", daemon=True).start()
        return True

    def holder(self) -> dict:
        with self.engine.connect() as c:
            row = c.execute(text(
                "SELECT a.pid, a.application_name, host(a.client_addr) FROM pg_locks l JOIN pg_stat_activity a "
                "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted AND l.objid = :k "
                "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"),
                {"k": LOCK_KEY}).first()
        if row is None:
            return {}
        fields = dict(p.split("=", 1) for p in (row[1] or "").split()[1:] if "=" in p)
        return {"pid": fields.get("pid", f"backend {row[0]}"), "host": fields.get("host", row[2] or "")}

    def _watch(self) -> None:
        """The lock lives as long as its connection: a dropped connection means another daemon may own the
        database now, so the daemon must stop acting on it (``lost``)."""
        while not self._stop.wait(self.check_every):
            try:
                with self._lock:
                    self._conn.execute(text("SELECT 1"))
            except Exception:  # noqa: BLE001 - any failure means the session, and its lock, may be gone
                self._lost = f"the connection holding the lock on {self.where} was lost"
                log.error("ownership lost", extra={"db": self.where})
                return

    @property
    def lost(self) -> str | None:
        return self._lost

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()  # ending the session releases the lock
            except Exception:  # noqa: BLE001 - the connection is gone already
                pass
            self._conn, self.held = None, False

    def release(self) -> None:
        self._stop.set()
        self._drop()
        self.engine.dispose()


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def ownership_for(url: str, advertise: str = "") -> Ownership | None:
    """The lock that fits ``url`` (None for an in-memory SQLite database, which nobody else can open)."""
    if url.startswith("postgresql"):
        return AdvisoryOwnership(url, advertise)
    path = sqlite_path(url)
    return FileOwnership(path, advertise) if path else None
