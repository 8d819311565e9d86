"""The one error a configuration raises, kept in a leaf so every loader can raise it."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable


class ConfigError(ValueError):
    """A configuration cannot be used; one ``FILE: section.key: problem`` line per problem."""

    def __init__(self, source: str | Path | None, problems: Iterable[str]):
        self.source = source
        self.problems = list(problems) or ["invalid configuration"]
        where = str(source) if source is not None else "configuration"
        super().__init__("\n".join(f"{where}: {p}" for p in self.problems))
