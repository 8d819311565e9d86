"""The sweep file: which traces, injection files and configuration profiles to combine.

A sweep is a TOML file (the successor of Haizea's multi-configuration files)::

    [sweep]
    name = "hpdc2008"
    traces = ["${SHARED}/blue/30days.swf"]          # "default" = the simulator's embedded workload
    injections = ["none", "${SHARED}/blue/injected_leases/30days/*.lwf"]
    # an entry may also be a list of files, injected together into one run

    [vars]                  # optional; ${NAME} expands to these (paths relative to this file)
    DATA = "data"

    [base.site]             # overrides over galerna.config.Config for every run
    nodes = 144

    [profiles.suspend50]    # one table per profile: overrides over base (section -> key -> value)
    description = "suspend/resume at 50 MB/s"
    scheduling = { suspension = "all", suspend_rate = 50, resume_rate = 50 }

Every combination trace x injection x profile is one run. ``${NAME}`` is looked up in the
environment as ``GALERNA_NAME`` first, then in ``[vars]``, then among the built-ins:
``SHARED`` (the ``shared/data/haizea-traces`` folder found next to an ancestor of the sweep
file, i.e. ``../shared/data/haizea-traces`` from the repository root) and ``SWEEP_DIR``.
Relative paths are relative to the sweep file. Globs are expanded and sorted.
"""
from __future__ import annotations

import copy
import glob
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from galerna.config.schema import Config

DEFAULT_SIMULATOR = "galerna.sim.run:simulate"
NO_INJECTION = ("", "none")
DEFAULT_TRACE = ("default", "none")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class SweepError(ValueError):
    """The sweep file is wrong; the message says where."""


def deep_merge(base: dict, override: dict) -> dict:
    """A copy of ``base`` with ``override`` merged in: nested dicts merge, anything else replaces."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def ar_share(injection_files: tuple[str, ...] | list[str]) -> float:
    """The share of CPU-hours the injected ARs add, from Haizea's file names (work_RR → RR %); 0 without."""
    total = 0.0
    for f in injection_files:
        m = re.search(r"work_(\d+)", Path(f).name)
        if m:
            total += float(m.group(1))
    return total


def injection_meta(injection_files: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """AR duration (hours) and size class from Haizea's injection file names, when there is one file."""
    meta: dict[str, Any] = {"ar_duration_h": None, "ar_size": None}
    if len(injection_files) == 1:
        name = Path(injection_files[0]).name
        m = re.search(r"dur_(\d+(?:\.\d+)?)h", name)
        if m:
            meta["ar_duration_h"] = float(m.group(1))
        m = re.search(r"size_\d*([a-z]+)", name)
        if m:
            meta["ar_size"] = m.group(1)
    return meta


@dataclass(frozen=True)
class RunTask:
    """One simulation of a sweep: everything a Dask worker needs, picklable and JSON-able."""

    run_id: str
    profile: str
    trace: str | None  # absolute path, or None for the embedded default workload
    trace_label: str
    injections: tuple[str, ...]
    injection_label: str
    ar_share: float
    config: dict  # the full configuration (Config.model_dump(mode="json"))
    out_dir: str  # the run's output directory
    simulator: str = DEFAULT_SIMULATOR
    meta: dict = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "profile": self.profile,
            "trace": self.trace_label,
            "trace_path": self.trace or "",
            "injection": self.injection_label,
            "injection_paths": ";".join(self.injections),
            "ar_share": self.ar_share,
            **self.meta,
            "out_dir": self.out_dir,
        }


@dataclass
class SweepSpec:
    name: str
    path: Path | None
    traces: list[str | None]
    injections: list[tuple[str, ...]]
    base: dict
    profiles: dict[str, dict]
    descriptions: dict[str, str]
    simulator: str = DEFAULT_SIMULATOR

    def profile_config(self, profile: str) -> dict:
        """The full configuration of a profile, validated, as plain JSON-able data."""
        merged = deep_merge(Config().model_dump(mode="json"), self.base)
        merged = deep_merge(merged, self.profiles[profile])
        try:
            cfg = Config.model_validate(merged)
        except Exception as e:  # pydantic.ValidationError: name the profile
            raise SweepError(f"profile {profile!r}: invalid configuration:\n{e}") from e
        return cfg.model_dump(mode="json")

    def tasks(self, out_dir: Path) -> list[RunTask]:
        """All runs, in order: profile, trace, injection. Run ids are unique and filesystem-safe."""
        out_dir = Path(out_dir)
        configs = {p: self.profile_config(p) for p in self.profiles}
        trace_labels = _labels([(t,) if t else () for t in self.traces], default="default")
        inj_labels = _labels(self.injections, default="none")
        tasks = []
        for profile in self.profiles:
            for trace, tlabel in zip(self.traces, trace_labels):
                for inj, ilabel in zip(self.injections, inj_labels):
                    run_id = _safe(f"{profile}--{tlabel}--{ilabel}")
                    tasks.append(
                        RunTask(
                            run_id=run_id,
                            profile=profile,
                            trace=trace,
                            trace_label=tlabel,
                            injections=inj,
                            injection_label=ilabel,
                            ar_share=ar_share(inj),
                            config=configs[profile],
                            out_dir=str((out_dir / "runs" / run_id).resolve()),
                            simulator=self.simulator,
                            meta=injection_meta(inj),
                        )
                    )
        ids = [t.run_id for t in tasks]
        if len(set(ids)) != len(ids):
            dup = sorted({i for i in ids if ids.count(i) > 1})
            raise SweepError(f"run ids collide (same profile, trace and injection twice?): {dup[:5]}")
        return tasks

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "path": str(self.path) if self.path else None,
            "traces": self.traces,
            "injections": [list(i) for i in self.injections],
            "base": self.base,
            "profiles": self.profiles,
            "descriptions": self.descriptions,
            "simulator": self.simulator,
        }


def _safe(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+=-]+", "_", s)


def _labels(groups: list[tuple[str, ...]], default: str) -> list[str]:
    """Short labels (file stems) for each group of files, made unique with parent folders when needed."""

    def label(files: tuple[str, ...], depth: int) -> str:
        if not files:
            return default
        parts = []
        for f in files:
            p = Path(f)
            bits = [p.stem] + [q.name for q in list(p.parents)[: depth]]
            parts.append("_".join(reversed(bits)))
        return "+".join(parts)

    depth = 0
    while True:
        labels = [label(g, depth) for g in groups]
        if len(set(labels)) == len(labels) or depth > 8:
            return labels
        depth += 1


def find_shared(start: Path) -> Path | None:
    """``shared/data/haizea-traces`` next to ``start`` or one of its ancestors."""
    for d in [start, *start.parents]:
        cand = d / "shared" / "data" / "haizea-traces"
        if cand.is_dir():
            return cand
    return None


def _expand(value: str, variables: dict[str, str], where: str) -> str:
    def sub(m: re.Match) -> str:
        name = m.group(1)
        if f"GALERNA_{name}" in os.environ:
            return os.environ[f"GALERNA_{name}"]
        if name in variables:
            return variables[name]
        raise SweepError(f"{where}: unknown variable ${{{name}}} (define it in [vars] or as GALERNA_{name})")

    return _VAR.sub(sub, value)


def _paths(entry: str, variables: dict[str, str], base_dir: Path, where: str) -> list[str]:
    """One entry of traces/injections: expanded, made absolute, globbed (sorted)."""
    expanded = os.path.expanduser(_expand(entry, variables, where))
    p = Path(expanded)
    if not p.is_absolute():
        p = base_dir / p
    if glob.has_magic(str(p)):
        found = sorted(glob.glob(str(p)))
        if not found:
            raise SweepError(f"{where}: {entry!r} matches no file ({p})")
        return [str(Path(f).resolve()) for f in found]
    # A missing file is not an error here: that run fails on its own and the others go on.
    return [str(p.resolve())]


def parse_sweep(data: dict, path: Path | None = None) -> SweepSpec:
    """Build a sweep from parsed TOML data (``path`` locates relative paths and ${SHARED})."""
    base_dir = path.parent.resolve() if path else Path.cwd()
    unknown = set(data) - {"sweep", "vars", "base", "profiles"}
    if unknown:
        raise SweepError(f"unknown top-level tables: {sorted(unknown)} (expected sweep, vars, base, profiles)")
    sweep = data.get("sweep", {})
    unknown = set(sweep) - {"name", "description", "traces", "injections", "simulator"}
    if unknown:
        raise SweepError(f"[sweep]: unknown keys {sorted(unknown)}")

    variables: dict[str, str] = {"SWEEP_DIR": str(base_dir)}
    shared = find_shared(base_dir)
    if shared:
        variables["SHARED"] = str(shared)
    for k, v in data.get("vars", {}).items():
        p = Path(os.path.expanduser(str(v)))
        variables[k] = str(p if p.is_absolute() else (base_dir / p).resolve())

    traces: list[str | None] = []
    for i, t in enumerate(sweep.get("traces", ["default"])):
        if not isinstance(t, str):
            raise SweepError(f"[sweep] traces[{i}]: expected a path, got {t!r}")
        if t.strip().lower() in DEFAULT_TRACE:
            traces.append(None)
        else:
            traces.extend(_paths(t, variables, base_dir, f"[sweep] traces[{i}]"))
    if not traces:
        raise SweepError("[sweep] traces is empty")

    injections: list[tuple[str, ...]] = []
    for i, entry in enumerate(sweep.get("injections", ["none"])):
        where = f"[sweep] injections[{i}]"
        if isinstance(entry, str):
            if entry.strip().lower() in NO_INJECTION:
                injections.append(())
            else:
                injections.extend((f,) for f in _paths(entry, variables, base_dir, where))
        elif isinstance(entry, list):  # several files injected together into one run
            files: list[str] = []
            for e in entry:
                files.extend(_paths(str(e), variables, base_dir, where))
            injections.append(tuple(files))
        else:
            raise SweepError(f"{where}: expected a path or a list of paths, got {entry!r}")
    if not injections:
        raise SweepError("[sweep] injections is empty (use [\"none\"] for the traces alone)")

    base = data.get("base", {})
    if not isinstance(base, dict):
        raise SweepError("[base] must be a table of configuration sections")
    profiles_in = data.get("profiles") or {"default": {}}
    profiles: dict[str, dict] = {}
    descriptions: dict[str, str] = {}
    for name, prof in profiles_in.items():
        if not isinstance(prof, dict):
            raise SweepError(f"[profiles.{name}] must be a table")
        prof = dict(prof)
        descriptions[name] = str(prof.pop("description", ""))
        profiles[name] = prof

    spec = SweepSpec(
        name=str(sweep.get("name") or (path.stem if path else "sweep")),
        path=path.resolve() if path else None,
        traces=traces,
        injections=injections,
        base=base,
        profiles=profiles,
        descriptions=descriptions,
        simulator=str(sweep.get("simulator", DEFAULT_SIMULATOR)),
    )
    for p in spec.profiles:  # fail fast on a wrong profile, before anything runs
        spec.profile_config(p)
    return spec


def load_sweep(path: str | Path) -> SweepSpec:
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise SweepError(f"{path}: {e}") from e
    return parse_sweep(data, path)
