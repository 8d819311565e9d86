"""Why the daemon refuses an operation, as a kind the callers map to their own codes (HTTP, XML-RPC faults)."""
from __future__ import annotations

from enum import StrEnum


class Refusal(StrEnum):
    CONFLICT = "conflict"  # well formed, but the lease or host is not in a state that allows it
    NOT_FOUND = "not-found"  # no such lease or host
    INVALID = "invalid"  # a value the daemon cannot use (unknown resource, unreachable hypervisor URI)
    UNAVAILABLE = "unavailable"  # the daemon is stopping, or failed inside; the caller may try again


# Transition only: the API still raises ``Refused(reason, 404)`` and reads ``.status``. Both go once galerna/api
# maps a Refusal to its HTTP code itself.
_KIND_OF_STATUS = {409: Refusal.CONFLICT, 404: Refusal.NOT_FOUND, 422: Refusal.INVALID, 503: Refusal.UNAVAILABLE}
_STATUS_OF_KIND = {k: s for s, k in _KIND_OF_STATUS.items()}


class Refused(Exception):
    """The operation is understood but cannot be granted: ``reason`` in words, ``kind`` for the caller's code."""

    def __init__(self, reason: str, kind: Refusal | int = Refusal.CONFLICT, lease: dict | None = None):
        super().__init__(reason)
        if isinstance(kind, int):
            kind = _KIND_OF_STATUS.get(kind, Refusal.CONFLICT)
        self.reason, self.kind, self.lease = reason, Refusal(kind), lease

    @property
    def status(self) -> int:
        """Transition only (see above): the HTTP status the API answers with today."""
        return _STATUS_OF_KIND[self.kind]
