"""Why the daemon refuses an operation, as a kind the callers map to their own codes (HTTP, XML-RPC faults)."""
from __future__ import annotations

from enum import StrEnum


class ErrorKind(StrEnum):
    """Why the daemon refused, in a word each caller maps to its own code (HTTP status, XML-RPC fault)."""

    CONFLICT = "conflict"  # well formed, but the lease or host is not in a state that allows it
    NOT_FOUND = "not-found"  # no such lease or host
    INVALID = "invalid"  # a value the daemon cannot use (unknown resource, unreachable hypervisor URI)
    UNAVAILABLE = "unavailable"  # the daemon is stopping, or failed inside; the caller may try again


class Refused(Exception):
    """The operation is understood but cannot be granted: ``reason`` in words, ``kind`` for the caller's code."""

    def __init__(self, reason: str, kind: ErrorKind = ErrorKind.CONFLICT, lease: dict | None = None,
                 field: str | None = None):
        super().__init__(reason)
        self.reason, self.kind, self.lease = reason, ErrorKind(kind), lease
        self.field = field  # the request's field at fault (dotted: ``nodes.0.cpu``), for an INVALID refusal
