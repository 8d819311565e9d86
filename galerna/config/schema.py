"""Galerna's configuration, one pydantic model per TOML section.

Every option has a default that just works, so an empty file is valid.
"""
from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from galerna.config.api import ApiConfig
from galerna.config.opennebula import OpenNebulaConfig


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", use_enum_values=False)


class Backfilling(StrEnum):
    OFF = "off"
    AGGRESSIVE = "aggressive"
    CONSERVATIVE = "conservative"
    INTERMEDIATE = "intermediate"  # reservations for the first `backfilling_reservations` queued leases


class SuspensionMode(StrEnum):
    NONE = "none"
    SERIAL_ONLY = "serial-only"  # only single-node leases
    ALL = "all"


class Exclusion(StrEnum):
    LOCAL = "local"  # serial per host, parallel across hosts
    GLOBAL = "global"  # all serial


class MigrationMode(StrEnum):
    NO = "no"
    YES = "yes"
    YES_NOTRANSFER = "yes-notransfer"


class HostSelection(StrEnum):
    GREEDY = "greedy"
    PACKING = "packing"
    STRIPING = "striping"


class Admission(StrEnum):
    ACCEPT_ALL = "accept-all"
    NO_ARS = "no-ars"


class Preemption(StrEnum):
    NONE = "none"
    AR_PREEMPTS_EVERYTHING = "ar-preempts-everything"
    DEADLINE_AWARE = "deadline-aware"


class ThresholdKind(StrEnum):
    FACTOR = "factor"  # threshold = factor x (suspend + resume time)
    FIXED = "fixed"  # threshold = value seconds


class SwfCancelled(StrEnum):
    """Which SWF jobs with status 5 (cancelled) are left out."""

    DROP = "drop"  # every one, also those cancelled while running
    DROP_UNSTARTED = "drop-unstarted"  # only those cancelled in the queue (no run time): Haizea's rule


class PreparationMode(StrEnum):
    UNMANAGED = "unmanaged"
    IMAGETRANSFER = "imagetransfer"


class TransferMode(StrEnum):
    UNICAST = "unicast"
    MULTICAST = "multicast"


class SiteConfig(_Section):
    """The simulated site (ignored when the trace brings its own `<site>`)."""

    nodes: int = Field(4, ge=1, description="number of identical hosts")
    cpu: float = Field(1.0, gt=0, description="cores per host (a Haizea CPU of 100 is 1.0)")
    memory: float = Field(1024.0, gt=0, description="MB per host")
    extra: dict[str, float] = Field(default_factory=dict, description="further resources per host, e.g. disk = 20000")


class SchedulingConfig(_Section):
    backfilling: Backfilling = Backfilling.CONSERVATIVE
    backfilling_reservations: int = Field(1, ge=0, description="reservations kept when backfilling = intermediate")
    rebind: bool = Field(True, description="a lease that fits on the free count now may move a future "
                         "reservation to other hosts free for its whole interval (same start and end)")
    host_selection: HostSelection = HostSelection.GREEDY
    admission: Admission = Admission.ACCEPT_ALL
    preemption: Preemption = Preemption.AR_PREEMPTS_EVERYTHING
    preemption_horizon: float | None = Field(
        7 * 86400.0, ge=0, description="aging: a lease submitted longer ago than this many seconds is never "
        "preempted (Haizea's 7 days); unset = any age")
    suspension: SuspensionMode = SuspensionMode.ALL
    suspend_rate: float = Field(32.0, gt=0, description="MB/s at which VM memory is saved")
    resume_rate: float = Field(32.0, gt=0, description="MB/s at which VM memory is restored")
    suspend_time: float | None = Field(
        None, ge=0, description="fixed seconds to suspend one VM, instead of memory / suspend_rate + overhead")
    resume_time: float | None = Field(
        None, ge=0, description="fixed seconds to resume one VM, instead of memory / resume_rate + overhead")
    suspendresume_exclusion: Exclusion = Exclusion.LOCAL
    enactment_overhead: float = Field(0.0, ge=0, description="seconds added to every suspend/resume of a VM")
    scheduling_threshold: ThresholdKind = ThresholdKind.FACTOR
    scheduling_threshold_value: float = Field(1.0, ge=0)
    migration: MigrationMode = MigrationMode.NO
    migration_bandwidth: float = Field(100.0, gt=0, description="MB/s for moving memory and images between hosts")
    boot_overhead: float = Field(0.0, ge=0, description="seconds a VM spends booting before it runs")
    shutdown_time: float = Field(0.0, ge=0, description="seconds a VM spends shutting down after it runs")
    runtime_slowdown_overhead: float = Field(0.0, ge=0, description="percent added to every lease's run time")
    non_schedulable_interval: float = Field(0.0, ge=0, description="seconds from now in which nothing new may start")


class ImageTransferConfig(_Section):
    preparation: PreparationMode = PreparationMode.UNMANAGED
    transfer_mode: TransferMode = TransferMode.UNICAST
    bandwidth: float = Field(100.0, gt=0, description="MB/s from the image repository")
    reuse: bool = Field(False, description="keep images in a per-host cache and reuse them")
    cache_size: float = Field(0.0, ge=0, description="MB of image cache per host (0 = unlimited)")
    default_image_size: float = Field(0.0, ge=0, description="MB for leases that name no image size")


class SimulationConfig(_Section):
    starttime: float = 0.0
    stop_when: Literal["all-leases-done", "all-best-effort-done"] = "all-leases-done"
    progress: bool = True


class TraceConfig(_Section):
    """How traces are read."""

    swf_processors_per_node: int = Field(1, ge=1, description="SWF: divide processors by this to get nodes")
    swf_node_cpu: float = Field(1.0, gt=0, description="SWF: cpu of each node")
    swf_node_memory: float = Field(1024.0, gt=0, description="SWF: MB of each node")
    swf_cancelled: SwfCancelled = Field(
        SwfCancelled.DROP_UNSTARTED, description="SWF: drop only cancelled jobs that never ran, or every one")
    swf_use_requested_processors: bool = Field(True, description="SWF: nodes from field 8 (requested), else field 5")
    runtime_from_requested: bool = Field(False, description="plan with the real run time instead of the requested one")


class Config(_Section):
    site: SiteConfig = Field(default_factory=SiteConfig)
    scheduling: SchedulingConfig = Field(default_factory=SchedulingConfig)
    imagetransfer: ImageTransferConfig = Field(default_factory=ImageTransferConfig)
    simulation: SimulationConfig = Field(default_factory=SimulationConfig)
    trace: TraceConfig = Field(default_factory=TraceConfig)
    opennebula: OpenNebulaConfig = Field(default_factory=OpenNebulaConfig)  # the daemon's OpenNebula mode
    api: ApiConfig = Field(default_factory=ApiConfig)  # the daemon's request and event-stream limits
