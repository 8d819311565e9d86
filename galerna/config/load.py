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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Literal

from pydantic import BaseModel, ValidationError

from galerna.config.schema import Config

log = logging.getLogger(__name__)

TOML_SUFFIXES = {".toml"}
HAIZEA_SUFFIXES = {".conf", ".ini", ".cfg"}


class ConfigError(ValueError):
    """A configuration cannot be used; one ``FILE: section.key: problem`` line per problem."""

    def __init__(self, source: str | Path | None, problems: Iterable[str]):
        self.source = source
        self.problems = list(problems) or ["invalid configuration"]
        where = str(source) if source is not None else "configuration"
        super().__init__("\n".join(f"{where}: {p}" for p in self.problems))


@dataclass
class LoadedConfig:
    """A configuration plus what the loader has to tell about it."""

    config: Config
    source: Path | None
    format: Literal["toml", "haizea", "defaults"]
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Files a Haizea configuration names in its [tracefile] section (None otherwise).
    tracefile: Path | None = None
    injectionfile: Path | None = None
    annotationfile: Path | None = None
    site_in_tracefile: bool = False  # Haizea "resources: in-tracefile": use the trace's <site>


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
        loaded = LoadedConfig(Config(), None, "defaults")
    else:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise ConfigError(path, [f"cannot read: {e.strerror or e}"]) from None
        if detect_format(path, text) == "toml":
            try:
                data = tomllib.loads(text)
            except tomllib.TOMLDecodeError as e:
                raise ConfigError(path, [f"TOML syntax error: {e}"]) from None
            loaded = LoadedConfig(Config(), path, "toml")
        else:
            from galerna.config.haizea import parse_haizea_config  # here: haizea imports ConfigError from us

            imported = parse_haizea_config(text, path)
            data = imported.config.model_dump(mode="json")
            loaded = LoadedConfig(
                imported.config,
                path,
                "haizea",
                warnings=imported.warnings,
                notes=imported.notes,
                tracefile=imported.tracefile,
                injectionfile=imported.injectionfile,
                annotationfile=imported.annotationfile,
                site_in_tracefile=imported.site_in_tracefile,
            )
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


def validate(data: dict[str, Any], source: Path | None, overridden: set[str] = frozenset()) -> Config:
    """``Config`` from raw data, with pydantic's complaints rewritten as ConfigError lines."""
    try:
        return Config.model_validate(data)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            loc = [str(x) for x in err["loc"]]
            dotted = ".".join(loc)
            if err["type"] == "extra_forbidden":
                valid = _fields_at(loc[:-1])
                kind = "section" if len(loc) == 1 else "option"
                what = f"unknown {kind} (valid: {', '.join(valid)})"
            else:
                what = f"{err['msg']} (got {err.get('input')!r})"
            origin = " (from --set)" if any(k == dotted or k.startswith(dotted + ".") for k in overridden) else ""
            problems.append(f"{dotted or '(top level)'}: {what}{origin}")
        raise ConfigError(source, problems) from None


def _fields_at(loc: list[str]) -> list[str]:
    model: type[BaseModel] = Config
    for part in loc:
        f = model.model_fields.get(part)
        ann = getattr(f, "annotation", None)
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return []
        model = ann
    return list(model.model_fields)
