"""Engine set-up, migrations and the small data-access helpers shared by the daemon and the CLI."""
from __future__ import annotations

import hashlib
import os
import secrets
import time
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.orm import Session, sessionmaker

from galerna.store.models import MetaRow, TokenRow

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def data_dir() -> Path:
    """The user's data directory for Galerna (``$XDG_DATA_HOME/galerna``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "galerna"


def default_db_url() -> str:
    return os.environ.get("GALERNA_DB") or f"sqlite:///{data_dir() / 'galerna.db'}"


def make_engine(url: str, *, sqlite_synchronous: str = "NORMAL") -> Engine:
    """An engine for ``url``. SQLite gets WAL, a busy timeout and foreign keys.

    In WAL mode ``synchronous=NORMAL`` survives a crash of the process (kill -9)
    at any moment: a committed transaction is in the WAL file, in the OS's page
    cache, before the commit returns. It does not survive a power loss or an OS
    crash (the last transactions may be lost; the database stays consistent).
    ``FULL`` fsyncs the WAL at every commit and survives those too, at a cost per
    commit (the daemon's group commit spreads it over the batch).
    """
    if sqlite_synchronous.upper() not in ("NORMAL", "FULL", "EXTRA"):
        raise ValueError(f"sqlite synchronous must be NORMAL, FULL or EXTRA, not {sqlite_synchronous!r}")
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            create_private(Path(path))
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # noqa: ANN001
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={sqlite_synchronous}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_engine(url, pool_size=20, max_overflow=20, pool_pre_ping=True)


def create_private(path: Path) -> None:
    """A new SQLite file is made ``0600`` before SQLite opens it (its directory ``0700`` if made here): it holds the
    token hashes and every tenant's leases. SQLite gives its ``-wal`` and ``-shm`` files the database file's mode."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass  # an existing database keeps the mode its operator gave it


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (works from the installed package)."""
    from alembic import command
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("path_separator", "os")
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def hash_token(token: str) -> str:
    # Tokens are 256-bit random strings: a plain SHA-256 is enough (no dictionary to fear).
    return hashlib.sha256(token.encode()).hexdigest()


class Store:
    """An engine plus a session factory, migrated on creation."""

    def __init__(self, url: str | None = None, *, run_migrations: bool = True, sqlite_synchronous: str = "NORMAL"):
        self.url = url or default_db_url()
        self.engine = make_engine(self.url, sqlite_synchronous=sqlite_synchronous)
        if run_migrations:
            migrate(self.engine)
        self.session: sessionmaker[Session] = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    # ------------------------------------------------------------ meta
    def get_meta(self, key: str) -> str | None:
        with self.session() as s:
            row = s.get(MetaRow, key)
            return row.value if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.session.begin() as s:
            row = s.get(MetaRow, key)
            if row is None:
                s.add(MetaRow(key=key, value=value))
            else:
                row.value = value

    # ------------------------------------------------------------ tokens
    def create_token(self, name: str, tenant: str | None = None, admin: bool = False) -> tuple[int, str]:
        if not admin and not tenant:
            raise ValueError("a token belongs to a tenant or is an admin token")
        token = "glr_" + secrets.token_urlsafe(32)
        with self.session.begin() as s:
            row = TokenRow(name=name, tenant=tenant, admin=admin, hash=hash_token(token), created=time.time())
            s.add(row)
            s.flush()
            return row.id, token

    def list_tokens(self) -> list[TokenRow]:
        with self.session() as s:
            return list(s.scalars(select(TokenRow).order_by(TokenRow.id)))

    def revoke_token(self, token_id: int) -> bool:
        with self.session.begin() as s:
            row = s.get(TokenRow, token_id)
            if row is None or row.revoked is not None:
                return False
            row.revoked = time.time()
            return True

    def principal(self, token: str) -> TokenRow | None:
        with self.session() as s:
            row = s.scalar(select(TokenRow).where(TokenRow.hash == hash_token(token)))
            if row is None or row.revoked is not None:
                return None
            return row

    def close(self) -> None:
        self.engine.dispose()
