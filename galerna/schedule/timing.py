"""How long VM operations take, after Haizea's time model.

Suspending a VM saves its memory: memory / rate + enactment overhead. With
``local`` exclusion a host saves its VMs one after another while hosts work in
parallel; with ``global`` exclusion every VM of the lease is saved in turn.
A fixed ``suspend_time``/``resume_time`` (Haizea's override-suspend-time and
override-resume-time) replaces the per-VM time, exclusion still applying.
"""
from __future__ import annotations

from collections import Counter
from typing import Sequence

from galerna.config.schema import Exclusion, MigrationMode, SchedulingConfig, ThresholdKind


class Timing:
    def __init__(self, cfg: SchedulingConfig):
        self.cfg = cfg

    def _serial(self, per_vm: Sequence[float], hosts: Sequence[int]) -> float:
        if not per_vm:
            return 0.0
        if self.cfg.suspendresume_exclusion is Exclusion.GLOBAL:
            return sum(per_vm)
        per_host: Counter[int] = Counter()
        for t, h in zip(per_vm, hosts):
            per_host[h] += t
        return max(per_host.values())

    def suspend_time(self, memories: Sequence[float], hosts: Sequence[int]) -> float:
        c = self.cfg
        if c.suspend_time is not None:
            return self._serial([c.suspend_time] * len(memories), hosts)
        return self._serial([m / c.suspend_rate + c.enactment_overhead for m in memories], hosts)

    def resume_time(self, memories: Sequence[float], hosts: Sequence[int]) -> float:
        c = self.cfg
        if c.resume_time is not None:
            return self._serial([c.resume_time] * len(memories), hosts)
        return self._serial([m / c.resume_rate + c.enactment_overhead for m in memories], hosts)

    def migrate_time(self, memories: Sequence[float], image_mb: float, src: Sequence[int], dst: Sequence[int]) -> float:
        """Moving saved memory (and the disk image) of the VMs whose host changes."""
        c = self.cfg
        if c.migration is not MigrationMode.YES:
            return 0.0
        per_dst: Counter[int] = Counter()
        for m, a, b in zip(memories, src, dst):
            if a != b:
                per_dst[b] += (m + image_mb) / c.migration_bandwidth
        return max(per_dst.values(), default=0.0)

    def run_time(self, duration: float) -> float:
        return duration * (1.0 + self.cfg.runtime_slowdown_overhead / 100.0)

    def threshold(self, suspend: float, resume: float) -> float:
        """Shortest run worth starting when it will have to be suspended."""
        c = self.cfg
        if c.scheduling_threshold is ThresholdKind.FIXED:
            return c.scheduling_threshold_value
        return c.scheduling_threshold_value * (suspend + resume)
