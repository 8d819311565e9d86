"""Idempotency keys for lease creation: a retried request (same key, same body) answers the lease the first one made.

A client that got a 503 after the decision timeout cannot know whether its lease was made (it usually is, a moment
later). With an ``Idempotency-Key`` (REST header, XML-RPC argument; the CLI sends one per request) the retry is
safe. The key is claimed in the scheduler thread, so two requests with one key never both make a lease, even in
one batch, and it is written in the lease's own transaction: a key is stored if and only if its lease is. Keys are
per principal (a tenant, or an admin token), so one tenant's keys neither clash with nor reveal another's.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select, tuple_

from galerna.store.db import Store
from galerna.store.models import IdempotencyRow

from galerna.daemon.errors import ErrorKind, Refused

MAX_KEY = 255
_T = IdempotencyRow.__table__
_LOOKUP = select(_T.c.body_hash, _T.c.lease_seq).where(_T.c.scope == bindparam("scope"), _T.c.key == bindparam("key"))


@dataclass(frozen=True)
class Key:
    scope: str  # whose key space: "tenant:NAME" or "admin:TOKEN-NAME"
    key: str
    body_hash: str  # of the request as the caller sent it, so that the same key with another body is refused


def scope(tenant: str | None, admin: bool, token_name: str) -> str:
    return f"admin:{token_name}" if admin or not tenant else f"tenant:{tenant}"


def body_hash(body: Any) -> str:
    """A stable hash of a request body (a JSON-able value; keys sorted)."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def checked_key(key: str | None) -> str | None:
    """The key as given, or a refusal naming it: 1 to 255 printable ASCII characters."""
    if key is None:
        return None
    if not isinstance(key, str) or not 0 < len(key) <= MAX_KEY or not all(" " <= ch <= "~" for ch in key):
        raise Refused(f"Idempotency-Key must be 1 to {MAX_KEY} printable ASCII characters", ErrorKind.INVALID)
    return key


class Keys:
    """The keys claimed by the batch being built, and the rows the journal writes with its leases."""

    def __init__(self, store: Store):
        self.store = store
        self._pending: dict[tuple[str, str], tuple[str, str]] = {}  # (scope, key) -> (body hash, lease id)
        self._known: dict[tuple[str, str], tuple[str, str] | None] = {}  # committed keys read for this batch

    def prefetch(self, ops: list) -> None:  # noqa: ANN001 - the batch's operations
        """Read the committed keys of a whole batch in one statement (a burst of keyed requests is one batch)."""
        wanted = list({(k.scope, k.key) for op in ops if (k := getattr(op, "idempotency", None)) is not None})
        self._known = dict.fromkeys(wanted)
        if not wanted:
            return
        with self.store.engine.connect() as c:
            for i in range(0, len(wanted), 500):
                part = wanted[i:i + 500]
                for scope_, key, h, seq in c.execute(select(_T.c.scope, _T.c.key, _T.c.body_hash, _T.c.lease_seq)
                                                     .where(tuple_(_T.c.scope, _T.c.key).in_(part))):
                    self._known[(scope_, key)] = (h, str(seq))

    def claimed(self, k: Key) -> str | None:
        """The id of the lease made under ``k`` before (in this batch or committed), else None. The same key with
        another body: refused (422), naming the header."""
        found = self._pending.get((k.scope, k.key))
        if found is None and (k.scope, k.key) in self._known:
            found = self._known[(k.scope, k.key)]
        elif found is None:  # not prefetched (an operation applied outside a batch): one read
            with self.store.engine.connect() as c:
                row = c.execute(_LOOKUP, {"scope": k.scope, "key": k.key}).first()
            found = None if row is None else (row[0], str(row[1]))
        if found is None:
            return None
        if found[0] != k.body_hash:
            raise Refused(f"this Idempotency-Key was first used with another request (lease {found[1]}); "
                          "use a new key for a new request", ErrorKind.INVALID)
        return found[1]

    def claim(self, k: Key, lease_id: str) -> None:
        self._pending[(k.scope, k.key)] = (k.body_hash, lease_id)

    def take(self, new_ids: set[str]) -> list[dict]:
        """The rows to write with this commit (only those whose lease it writes); the batch's claims end here."""
        pending, self._pending, self._known = self._pending, {}, {}
        now = time.time()
        return [{"scope": sc, "key": key, "body_hash": h, "lease_seq": int(lid), "created": now}
                for (sc, key), (h, lid) in pending.items() if lid in new_ids]
