"""Haizea's [simulation], [deploy-imagetransfer] and [tracefile] options, and those only Haizea's own output used."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from galerna.config.haizea.values import as_bool, as_choice, as_number, as_seconds
from galerna.model.units import resource_amount, resource_name

if TYPE_CHECKING:
    from galerna.config.haizea.importer import Importer


def simulation(imp: Importer) -> set[str]:
    if imp.has("clock") and imp.get("clock", lambda v: as_choice(v, {"simulated": 1, "real": 0})) == 0:
        imp.warn("clock", "a real clock is not used by `galerna simulate`, which always fast-forwards")
    if imp.has("starttime"):
        raw = imp.get("starttime").strip()
        try:
            when = datetime.fromisoformat(raw)
        except ValueError:
            imp.problems.append(f"{imp.opts['starttime'][0]}.starttime: expected YYYY-MM-DD HH:MM:SS, got {raw!r}")
        else:
            if when.tzinfo is None:
                when = when.replace(tzinfo=timezone.utc)
            imp.set("simulation.starttime", when.timestamp())
    if imp.has("resources"):
        resources(imp)
    elif imp.has("nodes"):
        imp.set("site.nodes", imp.get("nodes", lambda v: int(as_number(v))))
    for opt in ("imagetransfer-bandwidth", "bandwidth"):
        if imp.has(opt):
            mbps = imp.get(opt, as_number)
            if mbps is not None:
                imp.set("imagetransfer.bandwidth", mbps / 8)
                imp.set("scheduling.migration_bandwidth", mbps / 8)
    if imp.has("stop-when"):
        if imp.opts["stop-when"][1].strip().lower() in ("besteffort-submitted", "exact"):
            imp.warn("stop-when", f"{imp.opts['stop-when'][1]!r} is not supported; runs until all leases are done")
        else:
            imp.set("simulation.stop_when", imp.get("stop-when", lambda v: as_choice(v, {
                "all-leases-done": "all-leases-done", "besteffort-done": "all-best-effort-done",
                "best-effort-done": "all-best-effort-done"})))
    if imp.has("stop-when-time"):
        imp.warn("stop-when-time", "stopping at a fixed time is not supported; ignored")
    if imp.has("status-message-interval"):
        imp.set("simulation.progress", True)
        imp.note("status-message-interval: Galerna shows a progress bar instead")
    return {"clock", "starttime", "resources", "nodes", "imagetransfer-bandwidth", "bandwidth", "stop-when",
            "stop-when-time", "status-message-interval"}


def resources(imp: Importer) -> None:
    raw = imp.get("resources").strip()
    if raw.lower() == "in-tracefile":
        imp.out.site_in_tracefile = True
        imp.note("resources: in-tracefile — the site comes from the trace's <site>")
        return
    sec = imp.opts["resources"][0]
    res: dict[str, float] = {}
    if re.match(r"^\d", raw):  # Haizea 1.x: "4  CPU:100 Memory:1024" (CPU in percent)
        tokens = re.split(r"[\s,]+", raw)
        imp.set("site.nodes", int(as_number(tokens[0])))
        pairs = [t.split(":", 1) for t in tokens[1:] if t]
        scale = 100.0
    else:  # before 1.0: "CPU,1;Mem,1024;Net (in),100" (CPU a count), nodes in their own option
        pairs = [p.rsplit(",", 1) for p in raw.split(";") if p.strip()]
        scale = 1.0
        if imp.has("nodes"):
            imp.set("site.nodes", imp.get("nodes", lambda v: int(as_number(v))))
    for pair in pairs:
        if len(pair) != 2:
            imp.problems.append(f"{sec}.resources: cannot read {':'.join(pair)!r} (expected TYPE:AMOUNT)")
            continue
        name = resource_name(pair[0])
        try:
            res[name] = resource_amount(name, float(pair[1]), scale)
        except ValueError:
            imp.problems.append(f"{sec}.resources: amount of {pair[0]} is not a number: {pair[1]!r}")
    if "cpu" in res:
        imp.set("site.cpu", res.pop("cpu"))
    if "memory" in res:
        imp.set("site.memory", res.pop("memory"))
    if res:
        imp.set("site.extra", res)


def imagetransfer(imp: Importer) -> set[str]:
    if imp.has("transfer-mechanism"):
        imp.set("imagetransfer.transfer_mode", imp.get("transfer-mechanism", lambda v: as_choice(
            v, {"unicast": "unicast", "multicast": "multicast"})))
    if imp.has("transfer"):  # before 1.0: none | unicast | multicast
        how = imp.get("transfer", lambda v: as_choice(v, {"none": None, "unicast": "unicast",
                                                        "multicast": "multicast"}))
        if how:
            imp.set("imagetransfer.preparation", "imagetransfer")
            imp.set("imagetransfer.transfer_mode", how)
        else:
            imp.set("imagetransfer.preparation", "unmanaged")
    if imp.has("avoid-redundant-transfers") and imp.get("avoid-redundant-transfers", as_bool) is False:
        imp.warn("avoid-redundant-transfers", "redundant transfers are always avoided; False is not supported")
    if imp.has("force-imagetransfer-time"):
        imp.warn("force-imagetransfer-time", "a fixed transfer time is not supported; it follows the bandwidth")
    if imp.has("diskimage-reuse"):
        imp.set("imagetransfer.reuse", imp.get("diskimage-reuse", lambda v: as_choice(
            v, {"none": False, "image-caches": True})))
    if imp.has("reuse"):
        imp.set("imagetransfer.reuse", imp.get("reuse", lambda v: as_choice(
            v, {"none": False, "cowpool": True, "image-caches": True})))
    for opt in ("diskimage-cache-size", "maxpool"):
        if imp.has(opt):
            imp.set("imagetransfer.cache_size", imp.get(opt, as_number))
    return {"transfer-mechanism", "transfer", "avoid-redundant-transfers", "force-imagetransfer-time",
            "diskimage-reuse", "reuse", "diskimage-cache-size", "maxpool"}


def tracefile(imp: Importer) -> set[str]:
    # Haizea's swf2lwf kept jobs cancelled while running (with the run time they had): Galerna's
    # default too, set here so a Haizea file keeps Haizea's rule whatever the default becomes.
    imp.set("trace.swf_cancelled", "drop-unstarted")
    for opt in ("tracefile", "injectionfile", "annotationfile"):
        if imp.has(opt):
            setattr(imp.out, opt, imp.path(opt))
    if imp.has("imagefile"):
        imp.warn("imagefile", "image lists appended to leases are not supported; the trace's images are used")
    if imp.has("override-memory"):
        mem = imp.get("override-memory", as_number)
        if mem is not None and mem != -1:
            imp.warn("override-memory", "overriding the trace's memory is not supported; ignored")
    overhead = imp.get("runtime-slowdown-overhead", as_number) if imp.has("runtime-slowdown-overhead") else None
    boot = imp.get("bootshutdown-overhead", as_seconds) if imp.has("bootshutdown-overhead") else None
    if imp.has("runtime-overhead"):  # before 1.0: no add-overhead, always applied
        overhead = imp.get("runtime-overhead", as_number)
        add = "all"
    elif imp.has("add-overhead"):
        add = imp.get("add-overhead", lambda v: as_choice(v, {"none": "none", "all": "all",
                                                            "besteffort": "besteffort"}))
    else:
        add = "all" if imp.legacy else "none"
    if add in ("all", "besteffort"):
        if overhead is not None:
            imp.set("scheduling.runtime_slowdown_overhead", overhead)
        if boot is not None:
            imp.set("scheduling.boot_overhead", boot)
        if add == "besteffort" and (overhead or boot):
            imp.warn("add-overhead", "besteffort is not supported; the overheads apply to all leases")
    else:
        for opt, value in (("runtime-slowdown-overhead", overhead), ("bootshutdown-overhead", boot)):
            if value:
                imp.warn(opt, "has no effect because add-overhead is none (Haizea's default); ignored")
    return {"tracefile", "injectionfile", "annotationfile", "imagefile", "override-memory",
            "runtime-slowdown-overhead", "bootshutdown-overhead", "runtime-overhead", "add-overhead"}


def ignored(imp: Importer) -> set[str]:
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
        if imp.has(opt):
            imp.note(f"[{imp.opts[opt][0]}] {opt}: ignored ({reason})")
    return set(why)
