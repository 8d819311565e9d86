"""Internal failures, told once: an incident id, one log line, and a plain sentence for the caller.

What a caller sees of an internal failure is the sentence and the id, never the exception's text: a database error's
text carries the SQL statement and its parameters, and class names say nothing useful to a client. The log gets ONE
line per failure (the id, the kind of failure, the cause's first line without SQL), and the traceback only at debug
level, so a failure that repeats every batch does not write kilobytes each time.
"""
from __future__ import annotations

import logging
import secrets

_SQL_MARKERS = ("[SQL:", "[parameters:", "(Background on this error")


def new_id() -> str:
    return secrets.token_hex(6)


def short_cause(e: BaseException, limit: int = 200) -> str:
    """The cause in one short line for the operator's log: the exception's kind and the first line of its message
    (for a database error, the driver's own message), cut before any SQL text or parameters."""
    inner = getattr(e, "orig", None) or e
    text = str(inner).strip().splitlines()[0] if str(inner).strip() else ""
    for marker in _SQL_MARKERS:
        text = text.split(marker, 1)[0]
    text = text.strip()
    if len(text) > limit:
        text = text[:limit] + "..."
    return f"{type(inner).__name__}: {text}" if text else type(inner).__name__


def report(log: logging.Logger, what: str, e: BaseException) -> str:
    """Log ``what`` failed, once, with a new incident id (traceback at debug level); returns the id."""
    incident = new_id()
    log.error("%s (incident %s): %s", what, incident, short_cause(e))
    log.debug("incident %s: traceback", incident, exc_info=e)
    return incident


def sentence(incident: str) -> str:
    """What a caller is told of an internal failure."""
    return (f"internal error (incident {incident}): the daemon could not carry this out; the request may not have "
            f"been saved, retry it (with the same Idempotency-Key to be safe)")
