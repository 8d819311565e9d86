"""Loading a configuration: a Galerna TOML file or a Haizea INI ``.conf``, plus ``--set`` overrides.

Errors are reported as ``ConfigError`` naming the file, the ``section.key``
and what is wrong, never as a raw pydantic traceback: configuration files
are written by people running experiments, not by the developers.

Overrides (``--set section.key=value``) use Galerna's TOML names whatever the
file format; the value is read as a TOML literal (``10``, ``true``,
``"x"``, ``[1, 2]``) and, when it is not one, as a plain string
(``--set scheduling.backfilling=aggressive``).
"""
from __future__ import annotations

import logging
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Literal

from galerna.config.errors import ConfigError, read_config_text
from galerna.config.imported import HaizeaImport
from galerna.config.schema import Config
from galerna.config.validate import validate

__all__ = ["ConfigError", "LoadedConfig", "apply_overrides", "detect_format", "load_config", "load_config_full",
           "parse_override", "validate"]

log = logging.getLogger(__name__)

TOML_SUFFIXES = {".toml"}
HAIZEA_SUFFIXES = {".conf", ".ini", ".cfg"}


@dataclass
class LoadedConfig(HaizeaImport):
    """A configuration plus what the loader has to tell about it: what a Haizea import tells
    (warnings, notes, the trace files its [tracefile] names; empty for TOML), and its source."""

    source: Path | None = None
    format: Literal["toml", "haizea", "defaults"] = "defaults"


def load_config(path: Path | str | None, overrides: Iterable[str] = ()) -> Config:
    """The configuration in ``path`` (defaults when None) with ``overrides`` applied.

    Warnings (Haizea options Galerna cannot honour) are logged; use
    ``load_config_full`` to get them, and the trace files a Haizea file names.
    """
    loaded = load_config_full(path, overrides)
    for w in loaded.warnings:
        log.warning("%s: %s", loaded.source, w)
    return loaded.config


def load_config_full(path: Path | str | None, overrides: Iterable[str] = ()) -> LoadedConfig:
    overrides = list(overrides)
    if path is None:
        data: dict[str, Any] = {}
        loaded = LoadedConfig(Config())
    else:
        path = Path(path)
        text = read_config_text(path)
        if detect_format(path, text) == "toml":
            try:
                data = tomllib.loads(text)
            except tomllib.TOMLDecodeError as e:
                raise ConfigError(path, [f"TOML syntax error: {e}"]) from None
            loaded = LoadedConfig(Config(), source=path, format="toml")
        else:
            from galerna.config.haizea import parse_haizea_config  # configparser and the option maps: Haizea files only

            imported = parse_haizea_config(text, path)
            data = imported.config.model_dump(mode="json")
            loaded = LoadedConfig(**vars(imported), source=path, format="haizea")
    if loaded.format == "haizea" and not overrides:
        return loaded
    overridden = apply_overrides(data, overrides, loaded.source)
    loaded.config = validate(data, loaded.source, overridden)
    return loaded


def detect_format(path: Path, text: str) -> Literal["toml", "haizea"]:
    """By extension; otherwise by content (Haizea files use ``key: value`` and Haizea-only sections)."""
    suffix = path.suffix.lower()
    if suffix in TOML_SUFFIXES:
        return "toml"
    if suffix in HAIZEA_SUFFIXES:
        return "haizea"
    try:
        tomllib.loads(text)
        return "toml"
    except tomllib.TOMLDecodeError:
        pass
    if re.search(r"^\s*\[(general|tracefile|deploy-imagetransfer|accounting|opennebula)\]", text, re.M) or re.search(
        r"^\s*[\w.-]+\s*:", text, re.M
    ):
        return "haizea"
    return "toml"


def parse_override(text: str) -> tuple[list[str], Any]:
    """``section.key=value`` → (["section", "key"], value)."""
    key, sep, raw = text.partition("=")
    parts = [p.strip() for p in key.strip().split(".")]
    if not sep or len(parts) < 2 or not all(parts):
        raise ConfigError("--set", [f"{text!r}: expected section.key=value"])
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return parts, value


def apply_overrides(data: dict[str, Any], overrides: Iterable[str], source: Path | None = None) -> set[str]:
    """Apply ``--set`` overrides to raw configuration data in place; returns the dotted keys set."""
    done = set()
    for text in overrides:
        parts, value = parse_override(text)
        node = data
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(source, [f"{'.'.join(parts[: i + 1])}: is a value, not a section (from --set {text})"])
            node = child
        node[parts[-1]] = value
        done.add(".".join(parts))
    return done
