"""Can the daemon commit? A real write in a transaction (the ``health_probe`` row of ``meta``), with short lock
timeouts so that a locked database answers "no" within a second instead of waiting 30 s as the daemon's own commits
do. Run at most once per ``every`` seconds: health checks from a load balancer must not compete with the group
commit for the database's one writer."""
from __future__ import annotations

import threading
import time

from sqlalchemy import text

from galerna.store.db import Store


def short_error(e: BaseException) -> str:
    """The database's own words, first line only: no SQL text, no parameters, no class names."""
    orig = getattr(e, "orig", None) or e
    words = str(orig).strip().splitlines()
    return (words[0] if words else "the database refused the write")[:200]


class CommitProbe:
    def __init__(self, store: Store, every: float = 2.0, timeout: float = 1.0):
        self.store, self.every, self.timeout = store, every, timeout
        self._lock = threading.Lock()
        self.at = 0.0  # when the last probe ran (time.time)
        self.ok: bool | None = None
        self.error: str | None = None

    def result(self) -> tuple[bool, str | None, float]:
        """(could commit, why not, seconds since that probe), probing again if the last one is older than
        ``every``. Blocking (up to ``timeout`` or two): call from a worker thread."""
        with self._lock:
            if time.time() - self.at >= self.every or self.ok is None:
                try:
                    self._write()
                    self.ok, self.error = True, None
                except Exception as e:  # noqa: BLE001 - whatever the database says is the answer
                    self.ok, self.error = False, short_error(e)
                self.at = time.time()
            return bool(self.ok), self.error, time.time() - self.at

    def _write(self) -> None:
        now = repr(time.time())
        sqlite = self.store.dialect == "sqlite"
        with self.store.engine.connect() as c:
            if sqlite:
                c.exec_driver_sql(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
                c.commit()  # end the autobegun block: the probe's transaction is the next one
            try:
                with c.begin():
                    if not sqlite:
                        ms = int(self.timeout * 1000)
                        c.exec_driver_sql(f"SET LOCAL lock_timeout = {ms}")
                        c.exec_driver_sql(f"SET LOCAL statement_timeout = {2 * ms}")
                    n = c.execute(text("UPDATE meta SET value = :v WHERE key = 'health_probe'"), {"v": now}).rowcount
                    if not n:
                        c.execute(text("INSERT INTO meta (key, value) VALUES ('health_probe', :v)"), {"v": now})
            finally:
                if sqlite:
                    c.rollback()
                    c.exec_driver_sql("PRAGMA busy_timeout=30000")
                    c.commit()
