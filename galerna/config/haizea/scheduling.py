"""Haizea's [general] and [scheduling] options, and its policies, mapped to Galerna's ``scheduling`` section."""
from __future__ import annotations

from typing import TYPE_CHECKING

from galerna.config.haizea.values import as_bool, as_choice, as_number, as_seconds

if TYPE_CHECKING:
    from galerna.config.haizea.importer import Importer


def general(imp: Importer) -> set[str]:
    if imp.has("mode"):
        mode = imp.get("mode", lambda v: as_choice(v, {"simulated": "simulated", "opennebula": "opennebula"}))
        if mode == "opennebula":
            imp.warn("mode", "Galerna has no OpenNebula mode; only the scheduling options are used")
    for opt in ("lease-preparation", "lease-deployment"):
        if imp.has(opt):
            prep = imp.get(opt, lambda v: as_choice(v, {
                "unmanaged": "unmanaged", "imagetransfer": "imagetransfer",
                "predeployed-images": "predeployed-images"}))
            if prep == "predeployed-images":
                imp.warn(opt, "predeployed-images is not supported; using unmanaged")
                prep = "unmanaged"
            if prep:
                imp.set("imagetransfer.preparation", prep)
    if imp.has("lease-failure-handling"):
        how = imp.get("lease-failure-handling", lambda v: as_choice(v, {"cancel": "cancel", "exit": "exit",
                                                                      "exit-raise": "exit-raise"}))
        if how and how != "cancel":
            imp.warn("lease-failure-handling", f"{how} is not supported; a failed lease is marked failed (cancel)")
    return {"mode", "lease-preparation", "lease-deployment", "lease-failure-handling"}


def scheduling(imp: Importer) -> set[str]:
    if imp.has("backfilling"):
        imp.set("scheduling.backfilling", imp.get("backfilling", lambda v: as_choice(v, {
            "off": "off", "aggressive": "aggressive", "conservative": "conservative",
            "intermediate": "intermediate"})))
    else:
        imp.set("scheduling.backfilling", "off")
        imp.note("backfilling not set: no backfilling (Haizea had no default)")
    if imp.has("backfilling-reservations"):
        imp.set("scheduling.backfilling_reservations", imp.get("backfilling-reservations", lambda v: int(as_number(v))))
    if imp.has("suspension"):
        imp.set("scheduling.suspension", imp.get("suspension", lambda v: as_choice(v, {
            "none": "none", "serial-only": "serial-only", "all": "all"})))
    for opt, keys in (("suspend-rate", ["suspend_rate"]), ("resume-rate", ["resume_rate"]),
                      ("suspendresume-rate", ["suspend_rate", "resume_rate"])):
        if imp.has(opt):
            rate = imp.get(opt, as_number)
            for k in keys:
                imp.set(f"scheduling.{k}", rate)
    if imp.has("suspendresume-exclusion"):
        imp.set("scheduling.suspendresume_exclusion", imp.get("suspendresume-exclusion", lambda v: as_choice(
            v, {"local": "local", "global": "global"})))
    for opt in ("scheduling-threshold-factor", "suspend-threshold-factor"):
        if imp.has(opt):
            imp.set("scheduling.scheduling_threshold", "factor")
            imp.set("scheduling.scheduling_threshold_value", imp.get(opt, as_number))
    if imp.has("force-scheduling-threshold"):
        imp.set("scheduling.scheduling_threshold", "fixed")
        imp.set("scheduling.scheduling_threshold_value", imp.get("force-scheduling-threshold", as_seconds))
    migration(imp)
    for opt, key in (("non-schedulable-interval", "non_schedulable_interval"),
                     ("shutdown-time", "shutdown_time"), ("enactment-overhead", "enactment_overhead")):
        if imp.has(opt):
            imp.set(f"scheduling.{key}", imp.get(opt, as_seconds))
    if not imp.has("non-schedulable-interval"):
        imp.set("scheduling.non_schedulable_interval", 10.0)
        imp.note("non-schedulable-interval not set: Haizea's default of 10 s applied")
    if imp.has("mapper"):
        # Haizea's deadline mapper preempts a deadline lease only if it can still meet its
        # deadline; Galerna's preemption always checks that, so both mappers map the same way.
        imp.get("mapper", lambda v: as_choice(v, {"greedy": "greedy", "deadline": "deadline"}))
    for opt, key in (("override-suspend-time", "suspend_time"), ("override-resume-time", "resume_time")):
        if imp.has(opt):
            imp.set(f"scheduling.{key}", imp.get(opt, as_seconds))
    for opt in ("max-delay-duration", "max-delay-vm", "max-delay-action"):
        if imp.has(opt):
            imp.warn(opt, "delay limits for late suspend/resume are not supported; ignored")
    return {"backfilling", "backfilling-reservations", "suspension", "suspend-rate", "resume-rate",
            "suspendresume-rate", "suspendresume-exclusion", "scheduling-threshold-factor",
            "suspend-threshold-factor", "force-scheduling-threshold", "migration", "what-to-migrate", "migrate",
            "non-schedulable-interval", "shutdown-time", "enactment-overhead", "mapper",
            "override-suspend-time", "override-resume-time", "max-delay-duration", "max-delay-vm",
            "max-delay-action"}


def migration(imp: Importer) -> None:
    if not imp.has("migration"):
        return
    raw = imp.opts["migration"][1].strip().lower()
    if raw in ("no", "yes", "yes-notransfer"):
        imp.set("scheduling.migration", raw)
        return
    enabled = imp.get("migration", as_bool)
    if not enabled:
        imp.set("scheduling.migration", "no")
        return
    what = None
    for opt in ("what-to-migrate", "migrate"):
        if imp.has(opt):
            what = imp.get(opt, lambda v: as_choice(v, {"nothing": "nothing", "mem": "mem", "mem+disk": "mem+disk",
                                                      "mem+vm": "mem+vm"}))
    imp.set("scheduling.migration", "yes-notransfer" if what == "nothing" else "yes")
    if what == "mem":
        imp.warn("what-to-migrate" if imp.has("what-to-migrate") else "migrate",
                  "migrating memory only is not distinguished; memory and disk image are moved")


def policies(imp: Importer) -> set[str]:
    legacy = imp.legacy
    if imp.has("policy-admission"):
        v = imp.get("policy-admission").strip()
        mapped = {"accept-all": "accept-all", "no-ars": "no-ars"}.get(v.lower())
        if mapped:
            imp.set("scheduling.admission", mapped)
        else:
            imp.warn("policy-admission", f"custom policy {v!r} cannot be loaded; using accept-all")
    if imp.has("policy-preemption"):
        v = imp.get("policy-preemption").strip()
        mapped = {"no-preemption": "none", "ar-preempts-everything": "ar-preempts-everything",
                  "deadline": "deadline-aware", "deadline-aware": "deadline-aware"}.get(v.lower())
        if mapped:
            imp.set("scheduling.preemption", mapped)
        else:
            imp.warn("policy-preemption", f"custom policy {v!r} cannot be loaded; using no preemption")
            imp.set("scheduling.preemption", "none")
    elif legacy:
        imp.set("scheduling.preemption", "ar-preempts-everything")
        imp.note("policy-preemption not set in a pre-1.0 file: ARs preempt other leases, as they did then")
    else:
        imp.set("scheduling.preemption", "none")
        imp.note("policy-preemption not set: Haizea's default no-preemption applied")
    # Haizea's preemption policies never preempt a lease submitted more than 7 days ago.
    imp.set("scheduling.preemption_horizon", 7 * 86400.0)
    if imp.has("policy-host-selection"):
        v = imp.get("policy-host-selection").strip()
        if v.lower() == "greedy":
            imp.set("scheduling.host_selection", "greedy")
        else:
            imp.warn("policy-host-selection", f"policy {v!r} is not available; using greedy")
    if imp.has("policy-pricing") and imp.get("policy-pricing").strip().lower() != "free":
        imp.warn("policy-pricing", "pricing policies are not supported; leases are free")
    return {"policy-admission", "policy-preemption", "policy-host-selection", "policy-pricing"}
