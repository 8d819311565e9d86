"""Read Haizea configuration files (INI) as they are, into Galerna's ``Config``.

So that Haizea experiments can be rerun unchanged, every option Haizea ever
documented (1.0/1.1, and the older names used by its technology previews and
the Blue Horizon experiments) is either mapped, ignored on purpose with a
note (logging, accounting output, persistence) or reported with a warning
naming the option when Galerna cannot honour it. Unknown sections and
options are warnings, never errors; an invalid value of a known option (say
``backfilling: sometimes``) is a ConfigError, as it was in Haizea.

Conversions worth knowing:

* Where Haizea's default differs from Galerna's, an absent option gets
  Haizea's default: no preemption (``policy-preemption`` defaults to
  ``no-preemption`` in Haizea 1.x; files older than 1.0 always let ARs
  preempt), 10 s ``non-schedulable-interval``, backfilling off.
* ``imagetransfer-bandwidth`` is Mbps in Haizea; Galerna uses MB/s (÷ 8),
  for image transfers and for migrations alike.
* ``runtime-slowdown-overhead`` and ``bootshutdown-overhead`` only act, as in
  Haizea, when ``add-overhead`` is ``all`` or ``besteffort`` (Galerna applies
  them to all leases); older files (``runtime-overhead``) always applied them.
  ``bootshutdown-overhead`` becomes ``boot_overhead``.
* ``starttime`` (``YYYY-MM-DD HH:MM:SS``) becomes POSIX seconds, read as UTC.
* Relative trace paths are resolved against the configuration file's folder.
"""
from __future__ import annotations

import configparser
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from galerna.config.errors import ConfigError
from galerna.config.schema import Config
from galerna.config.validate import validate
from galerna.model.units import parse_duration, resource_amount, resource_name

SECTIONS = ("general", "scheduling", "simulation", "accounting", "deploy-imagetransfer", "tracefile", "opennebula")
BACKEND_SECTIONS = ("opennebula", "vmware")  # enactment back-ends Galerna does not have

# Options that exist only before Haizea 1.0: their presence means ARs always preempted.
LEGACY = {
    "suspendresume-rate", "what-to-migrate", "migrate", "transfer", "reuse", "maxpool",
    "lease-deployment", "suspend-threshold-factor", "runtime-overhead", "bandwidth", "nodes",
}


@dataclass
class HaizeaImport:
    config: Config
    warnings: list[str] = field(default_factory=list)  # options not honoured, or honoured differently
    notes: list[str] = field(default_factory=list)  # options ignored on purpose, defaults applied
    tracefile: Path | None = None
    injectionfile: Path | None = None
    annotationfile: Path | None = None
    site_in_tracefile: bool = False


def read_haizea_config(path: Path | str) -> HaizeaImport:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(path, [f"cannot read: {e.strerror or e}"]) from None
    return parse_haizea_config(text, path)


def parse_haizea_config(text: str, source: Path | str) -> HaizeaImport:
    return _Importer(Path(source)).run(text)


# ---------------------------------------------------------------- value parsing


class _Bad(ValueError):
    pass


def _bool(v: str) -> bool:
    low = v.strip().lower()
    if low in ("true", "yes", "on", "1"):
        return True
    if low in ("false", "no", "off", "0"):
        return False
    raise _Bad(f"expected True or False, got {v!r}")


def _num(v: str) -> float:
    try:
        return float(v)
    except ValueError:
        raise _Bad(f"expected a number, got {v!r}") from None


def _secs(v: str) -> float:
    try:
        return parse_duration(v)
    except ValueError as e:
        raise _Bad(str(e)) from None


def _choice(v: str, mapping: dict[str, Any]) -> Any:
    low = v.strip().lower()
    if low not in mapping:
        raise _Bad(f"{v!r} is not one of {', '.join(mapping)}")
    return mapping[low]


# ---------------------------------------------------------------- the importer


class _Importer:
    def __init__(self, source: Path):
        self.source = source
        self.data: dict[str, dict[str, Any]] = {s: {} for s in Config.model_fields}
        self.out = HaizeaImport(Config())
        self.problems: list[str] = []
        self.opts: dict[str, tuple[str, str]] = {}  # option -> (section, value)

    # -- helpers
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
        except _Bad as e:
            self.problems.append(f"{section}.{option}: {e}")
            return None

    def path(self, option: str) -> Path | None:
        value = self.opts[option][1].strip()
        if not value or value.lower() == "none":
            return None
        p = Path(value).expanduser()
        return p if p.is_absolute() else (self.source.parent / p)

    # -- main
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
        for fn in (self.general, self.scheduling, self.policies, self.simulation, self.imagetransfer,
                   self.tracefile, self.ignored):
            known |= fn()
        return known

    # -- [general]
    def general(self) -> set[str]:
        if self.has("mode"):
            mode = self.get("mode", lambda v: _choice(v, {"simulated": "simulated", "opennebula": "opennebula"}))
            if mode == "opennebula":
                self.warn("mode", "Galerna has no OpenNebula mode; only the scheduling options are used")
        for opt in ("lease-preparation", "lease-deployment"):
            if self.has(opt):
                prep = self.get(opt, lambda v: _choice(v, {
                    "unmanaged": "unmanaged", "imagetransfer": "imagetransfer",
                    "predeployed-images": "predeployed-images"}))
                if prep == "predeployed-images":
                    self.warn(opt, "predeployed-images is not supported; using unmanaged")
                    prep = "unmanaged"
                if prep:
                    self.set("imagetransfer.preparation", prep)
        if self.has("lease-failure-handling"):
            how = self.get("lease-failure-handling", lambda v: _choice(v, {"cancel": "cancel", "exit": "exit",
                                                                          "exit-raise": "exit-raise"}))
            if how and how != "cancel":
                self.warn("lease-failure-handling", f"{how} is not supported; a failed lease is marked failed (cancel)")
        return {"mode", "lease-preparation", "lease-deployment", "lease-failure-handling"}

    # -- [scheduling]
    def scheduling(self) -> set[str]:
        if self.has("backfilling"):
            self.set("scheduling.backfilling", self.get("backfilling", lambda v: _choice(v, {
                "off": "off", "aggressive": "aggressive", "conservative": "conservative",
                "intermediate": "intermediate"})))
        else:
            self.set("scheduling.backfilling", "off")
            self.note("backfilling not set: no backfilling (Haizea had no default)")
        if self.has("backfilling-reservations"):
            self.set("scheduling.backfilling_reservations", self.get("backfilling-reservations", lambda v: int(_num(v))))
        if self.has("suspension"):
            self.set("scheduling.suspension", self.get("suspension", lambda v: _choice(v, {
                "none": "none", "serial-only": "serial-only", "all": "all"})))
        for opt, keys in (("suspend-rate", ["suspend_rate"]), ("resume-rate", ["resume_rate"]),
                          ("suspendresume-rate", ["suspend_rate", "resume_rate"])):
            if self.has(opt):
                rate = self.get(opt, _num)
                for k in keys:
                    self.set(f"scheduling.{k}", rate)
        if self.has("suspendresume-exclusion"):
            self.set("scheduling.suspendresume_exclusion", self.get("suspendresume-exclusion", lambda v: _choice(
                v, {"local": "local", "global": "global"})))
        for opt in ("scheduling-threshold-factor", "suspend-threshold-factor"):
            if self.has(opt):
                self.set("scheduling.scheduling_threshold", "factor")
                self.set("scheduling.scheduling_threshold_value", self.get(opt, _num))
        if self.has("force-scheduling-threshold"):
            self.set("scheduling.scheduling_threshold", "fixed")
            self.set("scheduling.scheduling_threshold_value", self.get("force-scheduling-threshold", _secs))
        self.migration()
        for opt, key in (("non-schedulable-interval", "non_schedulable_interval"),
                         ("shutdown-time", "shutdown_time"), ("enactment-overhead", "enactment_overhead")):
            if self.has(opt):
                self.set(f"scheduling.{key}", self.get(opt, _secs))
        if not self.has("non-schedulable-interval"):
            self.set("scheduling.non_schedulable_interval", 10.0)
            self.note("non-schedulable-interval not set: Haizea's default of 10 s applied")
        if self.has("mapper") and self.get("mapper").lower() != "greedy":
            self.warn("mapper", "only the greedy mapper exists; using it")
        for opt in ("override-suspend-time", "override-resume-time"):
            if self.has(opt):
                self.warn(opt, "fixed suspend/resume times are not supported; times follow suspend_rate/resume_rate")
        for opt in ("max-delay-duration", "max-delay-vm", "max-delay-action"):
            if self.has(opt):
                self.warn(opt, "delay limits for late suspend/resume are not supported; ignored")
        return {"backfilling", "backfilling-reservations", "suspension", "suspend-rate", "resume-rate",
                "suspendresume-rate", "suspendresume-exclusion", "scheduling-threshold-factor",
                "suspend-threshold-factor", "force-scheduling-threshold", "migration", "what-to-migrate", "migrate",
                "non-schedulable-interval", "shutdown-time", "enactment-overhead", "mapper",
                "override-suspend-time", "override-resume-time", "max-delay-duration", "max-delay-vm",
                "max-delay-action"}

    def migration(self) -> None:
        if not self.has("migration"):
            return
        raw = self.opts["migration"][1].strip().lower()
        if raw in ("no", "yes", "yes-notransfer"):
            self.set("scheduling.migration", raw)
            return
        enabled = self.get("migration", _bool)
        if not enabled:
            self.set("scheduling.migration", "no")
            return
        what = None
        for opt in ("what-to-migrate", "migrate"):
            if self.has(opt):
                what = self.get(opt, lambda v: _choice(v, {"nothing": "nothing", "mem": "mem", "mem+disk": "mem+disk",
                                                          "mem+vm": "mem+vm"}))
        self.set("scheduling.migration", "yes-notransfer" if what == "nothing" else "yes")
        if what == "mem":
            self.warn("what-to-migrate" if self.has("what-to-migrate") else "migrate",
                      "migrating memory only is not distinguished; memory and disk image are moved")

    def policies(self) -> set[str]:
        legacy = any(o in LEGACY for o in self.opts)
        if self.has("policy-admission"):
            v = self.get("policy-admission").strip()
            mapped = {"accept-all": "accept-all", "no-ars": "no-ars"}.get(v.lower())
            if mapped:
                self.set("scheduling.admission", mapped)
            else:
                self.warn("policy-admission", f"custom policy {v!r} cannot be loaded; using accept-all")
        if self.has("policy-preemption"):
            v = self.get("policy-preemption").strip()
            mapped = {"no-preemption": "none", "ar-preempts-everything": "ar-preempts-everything",
                      "deadline": "deadline-aware", "deadline-aware": "deadline-aware"}.get(v.lower())
            if mapped:
                self.set("scheduling.preemption", mapped)
            else:
                self.warn("policy-preemption", f"custom policy {v!r} cannot be loaded; using no preemption")
                self.set("scheduling.preemption", "none")
        elif legacy:
            self.set("scheduling.preemption", "ar-preempts-everything")
            self.note("policy-preemption not set in a pre-1.0 file: ARs preempt other leases, as they did then")
        else:
            self.set("scheduling.preemption", "none")
            self.note("policy-preemption not set: Haizea's default no-preemption applied")
        if self.has("policy-host-selection"):
            v = self.get("policy-host-selection").strip()
            if v.lower() == "greedy":
                self.set("scheduling.host_selection", "greedy")
            else:
                self.warn("policy-host-selection", f"policy {v!r} is not available; using greedy")
        if self.has("policy-pricing") and self.get("policy-pricing").strip().lower() != "free":
            self.warn("policy-pricing", "pricing policies are not supported; leases are free")
        return {"policy-admission", "policy-preemption", "policy-host-selection", "policy-pricing"}

    # -- [simulation]
    def simulation(self) -> set[str]:
        if self.has("clock") and self.get("clock", lambda v: _choice(v, {"simulated": 1, "real": 0})) == 0:
            self.warn("clock", "a real clock is not used by `galerna simulate`, which always fast-forwards")
        if self.has("starttime"):
            raw = self.get("starttime").strip()
            try:
                when = datetime.fromisoformat(raw)
            except ValueError:
                self.problems.append(f"{self.opts['starttime'][0]}.starttime: expected YYYY-MM-DD HH:MM:SS, got {raw!r}")
            else:
                if when.tzinfo is None:
                    when = when.replace(tzinfo=timezone.utc)
                self.set("simulation.starttime", when.timestamp())
        if self.has("resources"):
            self.resources()
        elif self.has("nodes"):
            self.set("site.nodes", self.get("nodes", lambda v: int(_num(v))))
        for opt in ("imagetransfer-bandwidth", "bandwidth"):
            if self.has(opt):
                mbps = self.get(opt, _num)
                if mbps is not None:
                    self.set("imagetransfer.bandwidth", mbps / 8)
                    self.set("scheduling.migration_bandwidth", mbps / 8)
        if self.has("stop-when"):
            if self.opts["stop-when"][1].strip().lower() in ("besteffort-submitted", "exact"):
                self.warn("stop-when", f"{self.opts['stop-when'][1]!r} is not supported; runs until all leases are done")
            else:
                self.set("simulation.stop_when", self.get("stop-when", lambda v: _choice(v, {
                    "all-leases-done": "all-leases-done", "besteffort-done": "all-best-effort-done",
                    "best-effort-done": "all-best-effort-done"})))
        if self.has("stop-when-time"):
            self.warn("stop-when-time", "stopping at a fixed time is not supported; ignored")
        if self.has("status-message-interval"):
            self.set("simulation.progress", True)
            self.note("status-message-interval: Galerna shows a progress bar instead")
        return {"clock", "starttime", "resources", "nodes", "imagetransfer-bandwidth", "bandwidth", "stop-when",
                "stop-when-time", "status-message-interval"}

    def resources(self) -> None:
        raw = self.get("resources").strip()
        if raw.lower() == "in-tracefile":
            self.out.site_in_tracefile = True
            self.note("resources: in-tracefile — the site comes from the trace's <site>")
            return
        sec = self.opts["resources"][0]
        res: dict[str, float] = {}
        if re.match(r"^\d", raw):  # Haizea 1.x: "4  CPU:100 Memory:1024" (CPU in percent)
            tokens = re.split(r"[\s,]+", raw)
            self.set("site.nodes", int(_num(tokens[0])))
            pairs = [t.split(":", 1) for t in tokens[1:] if t]
            scale = 100.0
        else:  # before 1.0: "CPU,1;Mem,1024;Net (in),100" (CPU a count), nodes in their own option
            pairs = [p.rsplit(",", 1) for p in raw.split(";") if p.strip()]
            scale = 1.0
            if self.has("nodes"):
                self.set("site.nodes", self.get("nodes", lambda v: int(_num(v))))
        for pair in pairs:
            if len(pair) != 2:
                self.problems.append(f"{sec}.resources: cannot read {':'.join(pair)!r} (expected TYPE:AMOUNT)")
                continue
            name = resource_name(pair[0])
            try:
                res[name] = resource_amount(name, float(pair[1]), scale)
            except ValueError:
                self.problems.append(f"{sec}.resources: amount of {pair[0]} is not a number: {pair[1]!r}")
        if "cpu" in res:
            self.set("site.cpu", res.pop("cpu"))
        if "memory" in res:
            self.set("site.memory", res.pop("memory"))
        if res:
            self.set("site.extra", res)

    # -- [deploy-imagetransfer] and the older [general] names
    def imagetransfer(self) -> set[str]:
        if self.has("transfer-mechanism"):
            self.set("imagetransfer.transfer_mode", self.get("transfer-mechanism", lambda v: _choice(
                v, {"unicast": "unicast", "multicast": "multicast"})))
        if self.has("transfer"):  # before 1.0: none | unicast | multicast
            how = self.get("transfer", lambda v: _choice(v, {"none": None, "unicast": "unicast",
                                                            "multicast": "multicast"}))
            if how:
                self.set("imagetransfer.preparation", "imagetransfer")
                self.set("imagetransfer.transfer_mode", how)
            else:
                self.set("imagetransfer.preparation", "unmanaged")
        if self.has("avoid-redundant-transfers") and self.get("avoid-redundant-transfers", _bool) is False:
            self.warn("avoid-redundant-transfers", "redundant transfers are always avoided; False is not supported")
        if self.has("force-imagetransfer-time"):
            self.warn("force-imagetransfer-time", "a fixed transfer time is not supported; it follows the bandwidth")
        if self.has("diskimage-reuse"):
            self.set("imagetransfer.reuse", self.get("diskimage-reuse", lambda v: _choice(
                v, {"none": False, "image-caches": True})))
        if self.has("reuse"):
            self.set("imagetransfer.reuse", self.get("reuse", lambda v: _choice(
                v, {"none": False, "cowpool": True, "image-caches": True})))
        for opt in ("diskimage-cache-size", "maxpool"):
            if self.has(opt):
                self.set("imagetransfer.cache_size", self.get(opt, _num))
        return {"transfer-mechanism", "transfer", "avoid-redundant-transfers", "force-imagetransfer-time",
                "diskimage-reuse", "reuse", "diskimage-cache-size", "maxpool"}

    # -- [tracefile]
    def tracefile(self) -> set[str]:
        for opt in ("tracefile", "injectionfile", "annotationfile"):
            if self.has(opt):
                setattr(self.out, opt, self.path(opt))
        if self.has("imagefile"):
            self.warn("imagefile", "image lists appended to leases are not supported; the trace's images are used")
        if self.has("override-memory"):
            mem = self.get("override-memory", _num)
            if mem is not None and mem != -1:
                self.warn("override-memory", "overriding the trace's memory is not supported; ignored")
        overhead = self.get("runtime-slowdown-overhead", _num) if self.has("runtime-slowdown-overhead") else None
        boot = self.get("bootshutdown-overhead", _secs) if self.has("bootshutdown-overhead") else None
        if self.has("runtime-overhead"):  # before 1.0: no add-overhead, always applied
            overhead = self.get("runtime-overhead", _num)
            add = "all"
        elif self.has("add-overhead"):
            add = self.get("add-overhead", lambda v: _choice(v, {"none": "none", "all": "all",
                                                                "besteffort": "besteffort"}))
        else:
            add = "all" if any(o in LEGACY for o in self.opts) else "none"
        if add in ("all", "besteffort"):
            if overhead is not None:
                self.set("scheduling.runtime_slowdown_overhead", overhead)
            if boot is not None:
                self.set("scheduling.boot_overhead", boot)
            if add == "besteffort" and (overhead or boot):
                self.warn("add-overhead", "besteffort is not supported; the overheads apply to all leases")
        else:
            for opt, value in (("runtime-slowdown-overhead", overhead), ("bootshutdown-overhead", boot)):
                if value:
                    self.warn(opt, "has no effect because add-overhead is none (Haizea's default); ignored")
        return {"tracefile", "injectionfile", "annotationfile", "imagefile", "override-memory",
                "runtime-slowdown-overhead", "bootshutdown-overhead", "runtime-overhead", "add-overhead"}

    # -- options that only concern Haizea's own logging, output or daemon
    def ignored(self) -> set[str]:
        why = {
            "loglevel": "logging is configured on the command line",
            "logfile": "logging is configured on the command line",
            "datafile": "results go to the --out directory",
            "datadir": "results go to the --out directory",
            "probes": "every metric is always collected",
            "attributes": "only used by Haizea's multi-configuration runs",
            "persistence-file": "the daemon keeps leases in its own database",
            "wakeup-interval": "simulations fast-forward; the daemon has its own interval",
            "sanity-check": "run tools/check_schedule.py on the output instead",
            "profile": "profiles belong to multi-configuration runs",
        }
        for opt, reason in why.items():
            if self.has(opt):
                self.note(f"[{self.opts[opt][0]}] {opt}: ignored ({reason})")
        return set(why)
