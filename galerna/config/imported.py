"""What reading a configuration file yields besides the Config itself (kept apart from the Haizea importer, so
loading a TOML file or the defaults never loads the Haizea option tables and configparser)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from galerna.config.schema import Config


@dataclass
class HaizeaImport:
    """A Haizea file read: the configuration, what to tell about it, and the trace files it names."""

    config: Config
    warnings: list[str] = field(default_factory=list)  # options not honoured, or honoured differently
    notes: list[str] = field(default_factory=list)  # options ignored on purpose, defaults applied
    tracefile: Path | None = None
    injectionfile: Path | None = None
    annotationfile: Path | None = None
    site_in_tracefile: bool = False
