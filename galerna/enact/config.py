"""Enactment configuration: hosts, the concurrency gate, timeouts, retries, recovery, CPU models.

Meant as the ``[enactment]`` section of Galerna's TOML file; every option has
a default, and the default host list is four libvirt test-driver hosts.
"""
from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from galerna.enact.cpu_model import CPUModel
from galerna.enact.driver import Driver, OperationKind


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GateConfig(_Section):
    """Limits on concurrent hypervisor operations (0 = unlimited everywhere below)."""

    per_host: int = Field(1, ge=0, description="concurrent operations per host connection (OpenNebula: 1)")
    overrides: dict[str, int] = Field(
        default_factory=dict,
        description="limit per driver type (URI scheme: test, qemu, qemu+tcp, qemu+ssh...) or per exact URI",
    )
    per_tenant: bool = Field(False, description="apply the limit per tenant (virtual datacenter) per connection")
    fast_state_changes: bool = Field(False, description="power on/off, pause, reset... bypass the per-host limit")
    image_ops: int = Field(1, ge=0, description="concurrent image/device operations per host (own pool)")
    backup_ops: int = Field(1, ge=0, description="concurrent state-file saves and copies per host (own pool)")
    global_cap: int = Field(0, ge=0, description="concurrent operations over all hosts")

    @field_validator("overrides")
    @classmethod
    def _nonneg(cls, v: dict[str, int]) -> dict[str, int]:
        bad = {k: n for k, n in v.items() if n < 0}
        if bad:
            raise ValueError(f"limits must be >= 0 (0 = unlimited): {bad}")
        return v


DEFAULT_TIMEOUTS: dict[OperationKind, float] = {
    OperationKind.DEPLOY: 120.0,
    OperationKind.START: 60.0,
    OperationKind.SHUTDOWN: 90.0,
    OperationKind.DESTROY: 30.0,
    OperationKind.SUSPEND: 300.0,
    OperationKind.RESUME: 300.0,
    OperationKind.PAUSE: 30.0,
    OperationKind.UNPAUSE: 30.0,
    OperationKind.REBOOT: 60.0,
    OperationKind.RESET: 30.0,
    OperationKind.MIGRATE: 600.0,
    OperationKind.STAGE_IMAGE: 1800.0,
    OperationKind.INSPECT: 30.0,
    OperationKind.LIST: 30.0,
}


class RetryConfig(_Section):
    attempts: int = Field(3, ge=1, description="tries per operation (1 = no retry)")
    backoff_initial: float = Field(1.0, ge=0, description="seconds before the first retry")
    backoff_factor: float = Field(2.0, ge=1)
    backoff_max: float = Field(60.0, ge=0)
    jitter: float = Field(0.1, ge=0, le=1, description="random fraction added to each backoff")
    timeouts: dict[OperationKind, float] = Field(default_factory=lambda: dict(DEFAULT_TIMEOUTS))
    shutdown_grace: float = Field(30.0, ge=0, description="seconds a guest gets to power off before it is destroyed")

    def timeout(self, kind: OperationKind) -> float:
        return self.timeouts.get(kind, DEFAULT_TIMEOUTS[kind])


class FailureOutcome(StrEnum):
    REQUEUE = "requeue"  # back to the queue (best effort) / pending
    RESCHEDULE = "reschedule"  # ask the scheduler for other hosts
    FAIL = "fail"  # lease fails with the hypervisor's message


class FailurePolicy(_Section):
    """What a final failure of an operation does to its lease."""

    deploy: FailureOutcome = FailureOutcome.RESCHEDULE
    resume: FailureOutcome = FailureOutcome.RESCHEDULE
    migrate: FailureOutcome = FailureOutcome.RESCHEDULE
    suspend: FailureOutcome = FailureOutcome.FAIL
    other: FailureOutcome = FailureOutcome.FAIL


class RecoveryMode(StrEnum):
    RESTART_IN_PLACE = "restart-in-place"  # wait for the host; restart its VMs there
    RESCHEDULE = "reschedule"  # after the grace period, fence and restart VMs cold elsewhere
    MANUAL = "manual"  # only mark VMs unknown


class RecoveryConfig(_Section):
    mode: RecoveryMode = RecoveryMode.RESTART_IN_PLACE
    grace_period: float = Field(60.0, ge=0, description="seconds a host may be in error before its VMs are recovered")
    fencing_command: str | None = Field(
        None, description="run before rescheduling a host's VMs; {host} and {uri} are replaced; non-zero exit = no reschedule"
    )
    fencing_timeout: float = Field(60.0, gt=0)
    reconcile_interval: float = Field(30.0, gt=0, description="seconds between full reconciles with the hypervisors")
    orphans: str = Field("destroy", pattern="^(destroy|keep)$", description="Galerna VMs the database does not know")


class HostConfig(_Section):
    uri: str
    name: str | None = None
    state_dir: str | None = None
    storage_pool: str | None = "galerna"
    nic: str | None = None
    cpu: CPUModel | None = None
    domain_type: str | None = Field(None, description="qemu (TCG) or kvm; test for test://; default from the URI")
    migration_host: str | None = Field(
        None, description="address other hosts send live-migration data to (default: the host in the URI)")


class EnactmentConfig(_Section):
    hosts: list[HostConfig] = Field(default_factory=list, description="empty = default_test_hosts(4)")
    data_dir: str = Field("/var/lib/galerna", description="state files and test node files live under it")
    gate: GateConfig = Field(default_factory=GateConfig)
    retry: RetryConfig = Field(default_factory=RetryConfig)
    failure: FailurePolicy = Field(default_factory=FailurePolicy)
    recovery: RecoveryConfig = Field(default_factory=RecoveryConfig)
    cpu: CPUModel | None = Field(None, description="cluster default CPU model (None: the hypervisor's default)")
    managed_save: bool = Field(False, description="suspend with libvirt's managed save instead of a state file")
    live_migration: bool = True
    workers: int = Field(32, ge=1, description="threads that run granted operations")
    vm_prefix: str = "galerna"

    def host_list(self) -> list[HostConfig]:
        if self.hosts:
            return self.hosts
        return [HostConfig(uri=u, name=f"test{i + 1}") for i, u in enumerate(default_test_hosts(4, self.data_dir))]


NODE_XML = """<node>
  <cpu>
    <nodes>1</nodes><sockets>1</sockets><cores>{cpus}</cores><threads>1</threads>
    <active>{cpus}</active><mhz>2000</mhz><model>x86_64</model>
  </cpu>
  <memory>{memory_kib}</memory>
  <pool type='dir'>
    <name>galerna</name>
    <target><path>{pool}</path></target>
  </pool>
</node>
"""


def default_test_hosts(n: int = 4, data_dir: str | os.PathLike = "/var/lib/galerna", cpus: int = 8,
                       memory_mb: int = 16384) -> list[str]:
    """Write ``n`` libvirt test-driver node files under ``data_dir/test-hosts`` and return their URIs.

    Each file is an independent hypervisor with ``cpus`` cores, ``memory_mb``
    of memory and a ``galerna`` storage pool (in memory: the test driver
    writes no volumes to disk).
    """
    base = Path(data_dir).absolute() / "test-hosts"
    base.mkdir(parents=True, exist_ok=True)
    uris = []
    for i in range(n):
        path = base / f"host{i + 1}.xml"
        text = NODE_XML.format(cpus=cpus, memory_kib=memory_mb * 1024, pool=base / f"pool{i + 1}")
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        uris.append(f"test://{path}")
    return uris


def make_drivers(config: EnactmentConfig) -> dict[str, Driver]:
    """One libvirt driver per configured host, keyed by URI."""
    from galerna.enact.libvirt import LibvirtDriver

    out = {}
    for h in config.host_list():
        name = h.name or h.uri
        state_dir = h.state_dir or str(Path(config.data_dir) / "state" / "".join(c if c.isalnum() else "_" for c in name))
        out[h.uri] = LibvirtDriver(
            h.uri,
            state_dir,
            storage_pool=h.storage_pool,
            nic=h.nic,
            host_cpu=h.cpu,
            cluster_cpu=config.cpu,
            managed_save=config.managed_save,
            domain_type=h.domain_type,
            prefix=config.vm_prefix,
            migration_host=h.migration_host,
        )
    return out
