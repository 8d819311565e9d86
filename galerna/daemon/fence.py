"""When the daemon must stop acknowledging writes: its database file was deleted or replaced, or it lost the lock
that makes it the database's owner. A commit after that would be answered and then lost (an unlinked file) or race
another daemon (a lost lock). The fence is checked before and after each group commit; once closed it stays closed
until an operator restarts the daemon, and says so once in the log."""
from __future__ import annotations

import logging
import threading
from typing import Callable

from galerna.daemon.errors import ErrorKind, Refused

log = logging.getLogger("galerna.daemon")


class Fence:
    def __init__(self) -> None:
        self._checks: list[Callable[[], str | None]] = []
        self._lock = threading.Lock()
        self.reason: str | None = None

    def add(self, check: Callable[[], str | None]) -> None:
        """``check()`` returns why writes must stop, or None."""
        self._checks.append(check)

    def closed(self) -> str | None:
        """Why writes are refused (None: they are not). Runs the checks until one fails."""
        if self.reason is None:
            for check in self._checks:
                why = check()
                if why:
                    with self._lock:
                        first, self.reason = self.reason is None, self.reason or why
                    if first:
                        log.error("writes refused", extra={"reason": why})
                    break
        return self.reason

    def refusal(self) -> Refused:
        return Refused(f"{self.reason}; writes are refused until an operator restarts the daemon",
                       ErrorKind.UNAVAILABLE)

    def check(self) -> None:
        """Raise the refusal when the fence is closed."""
        if self.closed():
            raise self.refusal()
