"""What every reader returns: the requests, the site if the file has one, and
what was dropped or adjusted on the way (so a user sees why 5545 jobs became
4192 leases)."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from galerna.model import LeaseRequest, Site
from galerna.readers.common import id_key


@dataclass
class Workload:
    requests: list[LeaseRequest]
    site: Site | None
    source: Path
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> lines skipped
    warnings: list[str] = field(default_factory=list)  # one line per kind of problem, with counts

    def __post_init__(self) -> None:
        self.requests = sorted(self.requests, key=lambda r: (r.submit, id_key(r.id)))

    @property
    def ids(self) -> set[str]:
        return {r.id for r in self.requests}

    def count(self, lease_type) -> int:
        return sum(1 for r in self.requests if r.type == lease_type)


class Tally:
    """Counts skipped lines and flagged leases per reason, remembering the first few line numbers."""

    def __init__(self) -> None:
        self._dropped: Counter[str] = Counter()
        self._flagged: Counter[str] = Counter()
        self._lines: dict[str, list[int]] = {}

    def drop(self, reason: str, line: int | None = None) -> None:
        self._dropped[reason] += 1
        self._note(reason, line)

    def flag(self, reason: str, line: int | None = None) -> None:
        """A lease kept (perhaps corrected) that the user should hear about."""
        self._flagged[reason] += 1
        self._note(reason, line)

    def _note(self, reason: str, line: int | None) -> None:
        lines = self._lines.setdefault(reason, [])
        if line is not None and len(lines) < 3:
            lines.append(line)

    def _where(self, reason: str) -> str:
        lines = self._lines.get(reason)
        return f" (first at line {', '.join(map(str, lines))})" if lines else ""

    def dropped(self) -> dict[str, int]:
        return dict(self._dropped)

    def warnings(self) -> list[str]:
        out = [f"skipped {n} line(s): {reason}{self._where(reason)}" for reason, n in self._dropped.items()]
        out += [f"{n} lease(s): {reason}{self._where(reason)}" for reason, n in self._flagged.items()]
        return out
