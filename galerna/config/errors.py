"""The one error a configuration raises, and the one read every loader does, kept in a leaf they all import."""
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


def read_config_text(path: Path) -> str:
    """The text of a configuration file; a file that cannot be read is a ConfigError naming it."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(path, [f"cannot read: {e.strerror or e}"]) from None
