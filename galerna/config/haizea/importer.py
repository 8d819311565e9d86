"""The Haizea importer: reads the INI file, hands each option to its section's mapper, validates the result.

The mappers (``scheduling.py``, ``simulation.py``) write Galerna's dotted
keys with ``set``, report with ``warn``/``note`` and collect invalid values
in ``problems``, which become one ConfigError at the end.
"""
from __future__ import annotations

import configparser
from pathlib import Path
from typing import Any, Callable

from galerna.config.errors import ConfigError, read_config_text
from galerna.config.haizea.scheduling import general, policies, scheduling
from galerna.config.haizea.simulation import ignored, imagetransfer, simulation, tracefile
from galerna.config.haizea.values import BadValue
from galerna.config.imported import HaizeaImport
from galerna.config.schema import Config
from galerna.config.validate import validate

SECTIONS = ("general", "scheduling", "simulation", "accounting", "deploy-imagetransfer", "tracefile", "opennebula")
BACKEND_SECTIONS = ("opennebula", "vmware")  # enactment back-ends Galerna does not have

# Options that exist only before Haizea 1.0: their presence means ARs always preempted.
LEGACY = {
    "suspendresume-rate", "what-to-migrate", "migrate", "transfer", "reuse", "maxpool",
    "lease-deployment", "suspend-threshold-factor", "runtime-overhead", "bandwidth", "nodes",
}


def read_haizea_config(path: Path | str) -> HaizeaImport:
    path = Path(path)
    return parse_haizea_config(read_config_text(path), path)


def parse_haizea_config(text: str, source: Path | str) -> HaizeaImport:
    return Importer(Path(source)).run(text)


class Importer:
    """One Haizea file being read: its options, the Galerna data built from them, and what to tell."""

    def __init__(self, source: Path):
        self.source = source
        self.data: dict[str, dict[str, Any]] = {s: {} for s in Config.model_fields}
        self.out = HaizeaImport(Config())
        self.problems: list[str] = []
        self.opts: dict[str, tuple[str, str]] = {}  # option -> (section, value)

    def set(self, dotted: str, value: Any) -> None:
        section, key = dotted.split(".")
        self.data[section][key] = value

    def warn(self, option: str, msg: str) -> None:
        sec = self.opts[option][0] if option in self.opts else "?"
        self.out.warnings.append(f"[{sec}] {option}: {msg}")

    def note(self, msg: str) -> None:
        self.out.notes.append(msg)

    def has(self, option: str) -> bool:
        return option in self.opts

    def get(self, option: str, parse: Callable[[str], Any] = str) -> Any:
        section, value = self.opts[option]
        try:
            return parse(value)
        except BadValue as e:
            self.problems.append(f"{section}.{option}: {e}")
            return None

    @property
    def legacy(self) -> bool:
        """Whether the file uses options that exist only before Haizea 1.0 (then ARs always preempted)."""
        return any(o in LEGACY for o in self.opts)

    def path(self, option: str) -> Path | None:
        value = self.opts[option][1].strip()
        if not value or value.lower() == "none":
            return None
        p = Path(value).expanduser()
        return p if p.is_absolute() else (self.source.parent / p)

    def run(self, text: str) -> HaizeaImport:
        parser = configparser.ConfigParser(
            delimiters=(":", "="),
            comment_prefixes=("#", ";"),
            inline_comment_prefixes=None,
            interpolation=None,
            strict=False,
        )
        try:
            parser.read_string(text, source=str(self.source))
        except configparser.Error as e:
            raise ConfigError(self.source, [f"not a valid Haizea (INI) file: {e}"]) from None
        sections = parser.sections()
        multi = [s for s in sections if ":" in s or s in ("multi", "profiles", "common")]
        if multi:
            raise ConfigError(
                self.source,
                [f"Haizea multi-configuration file (section [{multi[0]}]) is not supported; "
                 "write one plain configuration file per profile"],
            )
        for sec in sections:
            if sec in BACKEND_SECTIONS:
                names = ", ".join(parser.options(sec)) or "(empty)"
                self.out.warnings.append(
                    f"[{sec}] section ignored ({names}): Galerna has no {sec} back-end; it enacts on libvirt"
                )
                continue
            if sec not in SECTIONS:
                self.out.warnings.append(f"[{sec}] unknown section, its options are ignored")
                continue
            for opt in parser.options(sec):
                value = parser.get(sec, opt)
                if value is None or not value.strip():
                    self.note(f"[{sec}] {opt}: empty value, ignored")
                    continue
                self.opts[opt] = (sec, value.strip())
        handled = self.map_all()
        for opt, (sec, _) in self.opts.items():
            if opt not in handled:
                self.out.warnings.append(f"[{sec}] {opt}: unknown Haizea option, ignored")
        if self.problems:
            raise ConfigError(self.source, self.problems)
        self.out.config = validate(self.data, self.source)
        return self.out

    def map_all(self) -> set[str]:
        """Map every known option; returns the names it knows."""
        known: set[str] = set()
        for fn in (general, scheduling, policies, simulation, imagetransfer, tracefile, ignored):
            known |= fn(self)
        return known
