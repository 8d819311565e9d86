"""The driver interface: what enactment asks of a hypervisor, and the shared types.

A driver stands for one host (one hypervisor connection). Every operation is
idempotent where the hypervisor lets it be: deploying a VM that already runs
returns it, stopping a VM that is gone succeeds, resuming a running VM is a
no-op. Errors that describe *state* (no such domain, operation invalid for the
current state) are turned into state by the drivers; everything else is
raised as :class:`HypervisorError`, marked transient (worth a retry) or not.
"""
from __future__ import annotations

import abc
import shutil
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Callable, Mapping
from urllib.parse import urlsplit

from galerna.model.lease import DiskImage, LeaseRequest

from galerna.enact.cpu_model import CPUModel


class OperationKind(StrEnum):
    DEPLOY = "deploy"  # define + start from the lease's image
    START = "start"  # power on a defined VM (fast state change)
    SHUTDOWN = "shutdown"  # graceful power off with a timeout, then destroy; removes the VM
    DESTROY = "destroy"  # hard power off; removes the VM
    SUSPEND = "suspend"  # save memory to a state file (backup-type operation)
    RESUME = "resume"  # restore from the state file
    PAUSE = "pause"  # freeze in memory (fast state change)
    UNPAUSE = "unpause"  # thaw (fast state change)
    REBOOT = "reboot"  # guest reboot (fast state change)
    RESET = "reset"  # hard reset (fast state change)
    MIGRATE = "migrate"  # live where supported, else save -> move state file -> restore
    STAGE_IMAGE = "stage-image"  # make the lease's base image present on the host (image pool)
    INSPECT = "inspect"  # read-only
    LIST = "list"  # read-only


FAST_STATE_OPS = frozenset(
    {
        OperationKind.START,
        OperationKind.SHUTDOWN,
        OperationKind.DESTROY,
        OperationKind.PAUSE,
        OperationKind.UNPAUSE,
        OperationKind.REBOOT,
        OperationKind.RESET,
    }
)
IMAGE_OPS = frozenset({OperationKind.STAGE_IMAGE})
BACKUP_OPS = frozenset({OperationKind.SUSPEND, OperationKind.MIGRATE})
READ_ONLY_OPS = frozenset({OperationKind.INSPECT, OperationKind.LIST})


class VMState(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    SHUTOFF = "shutoff"  # defined, not running, no saved state
    SUSPENDED = "suspended"  # not running, memory saved (state file or managed save)
    CRASHED = "crashed"
    ABSENT = "absent"  # the hypervisor does not know this VM
    UNKNOWN = "unknown"  # its host cannot be reached


class HostState(StrEnum):
    UP = "up"
    ERROR = "error"  # the connection dropped or every call fails


@dataclass(frozen=True, slots=True)
class VMSpec:
    """What a driver needs to create one VM of a lease."""

    name: str
    vcpus: int = 1
    memory_mb: int = 64
    lease_id: str | None = None
    index: int = 0
    tenant: str | None = None
    image: DiskImage | None = None
    image_path: str | None = None  # where the base image lives on the host (when not staged in a pool)
    cpu: CPUModel | None = None  # per-VM CPU model (beats host and cluster defaults)
    network: str | None = None  # libvirt network name; None = no NIC
    extra: Mapping[str, str] = field(default_factory=dict)
    deployment: str | None = None  # the id of the database that made it (stamped on the VM; see enact/identity.py)

    @classmethod
    def from_lease(
        cls,
        lease: LeaseRequest,
        index: int,
        *,
        prefix: str = "galerna",
        network: str | None = "default",
        cpu: CPUModel | None = None,
        image_path: str | None = None,
        deployment: str | None = None,
    ) -> "VMSpec":
        node = lease.nodes[index]
        vcpus = max(1, round(node.get("cpu", 1.0)))
        memory = max(16, int(node.get("memory", 64.0)))
        cpu_name = lease.extra.get("cpu_model") if cpu is None else None
        return cls(
            name=vm_name(lease.id, index, prefix),
            vcpus=vcpus,
            memory_mb=memory,
            lease_id=lease.id,
            index=index,
            tenant=lease.tenant,
            image=lease.image,
            image_path=image_path,
            cpu=cpu if cpu is not None else (CPUModel.parse(cpu_name) if cpu_name else None),
            network=network,
            deployment=deployment,
        )

    def with_cpu(self, cpu: CPUModel | None) -> "VMSpec":
        return replace(self, cpu=cpu)


def uri_scheme(uri: str) -> str:
    """The driver type of a URI: ``test``, ``qemu``, ``qemu+tcp``, ``qemu+ssh``..."""
    return urlsplit(uri).scheme or uri.split(":", 1)[0]


def vm_name(lease_id: str, index: int, prefix: str = "galerna") -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in str(lease_id))
    return f"{prefix}-{safe}-{index}"


@dataclass(frozen=True, slots=True)
class VMInfo:
    name: str
    state: VMState
    host: str
    vcpus: int = 0
    memory_mb: int = 0
    uuid: str | None = None
    managed: bool = True  # created by Galerna (carries its metadata / name prefix)
    lease_id: str | None = None
    state_file: str | None = None
    deployment: str | None = None  # the deployment id stamped on it (None: unstamped, or not Galerna's)


@dataclass(frozen=True, slots=True)
class HostInfo:
    uri: str
    hypervisor: str
    cpus: float  # whole for libvirt; OpenNebula's MAX_CPU / 100 may be fractional
    memory_mb: int
    reachable: bool = True


class HypervisorError(RuntimeError):
    """An operation failed. ``transient`` says whether retrying may help."""

    def __init__(
        self,
        message: str,
        *,
        op: OperationKind | str | None = None,
        vm: str | None = None,
        host: str | None = None,
        code: int | None = None,
        transient: bool = True,
        connection_lost: bool = False,
    ):
        where = " ".join(x for x in (f"{op}" if op else "", f"vm={vm}" if vm else "", f"host={host}" if host else "") if x)
        super().__init__(f"{where}: {message}" if where else message)
        self.hypervisor_message = message
        self.op, self.vm, self.host, self.code = op, vm, host, code
        self.transient = transient
        self.connection_lost = connection_lost


class OperationTimeout(HypervisorError):
    def __init__(self, op: OperationKind | str, seconds: float, vm: str | None = None, host: str | None = None):
        super().__init__(f"no answer within {seconds:g} s", op=op, vm=vm, host=host, transient=True)
        self.seconds = seconds


class Driver(abc.ABC):
    """One hypervisor (host). Implementations must be safe to call from several threads."""

    uri: str
    #: where state files of suspended VMs are kept on this host
    state_dir: Path

    # --- VM lifecycle -------------------------------------------------
    @abc.abstractmethod
    def deploy(self, spec: VMSpec) -> VMInfo: ...

    @abc.abstractmethod
    def start(self, name: str) -> VMInfo: ...

    @abc.abstractmethod
    def shutdown(self, name: str, timeout: float = 30.0) -> VMInfo:
        """Ask the guest to power off; destroy it after ``timeout`` s. Removes the VM."""

    @abc.abstractmethod
    def destroy(self, name: str) -> VMInfo:
        """Power off at once and remove the VM (its definition, overlay and saved state)."""

    @abc.abstractmethod
    def suspend(self, name: str, state_file: str | None = None) -> VMInfo:
        """Save memory to ``state_file`` (default: under ``state_dir``); the VM stops."""

    @abc.abstractmethod
    def resume(self, name: str, state_file: str | None = None) -> VMInfo: ...

    @abc.abstractmethod
    def pause(self, name: str) -> VMInfo: ...

    @abc.abstractmethod
    def unpause(self, name: str) -> VMInfo: ...

    @abc.abstractmethod
    def reboot(self, name: str) -> VMInfo: ...

    @abc.abstractmethod
    def reset(self, name: str) -> VMInfo: ...

    # --- migration ------------------------------------------------------
    def can_migrate_live(self, dest: "Driver") -> bool:
        return False

    def migrate_live(self, name: str, dest: "Driver") -> VMInfo:
        raise HypervisorError("live migration not supported", op=OperationKind.MIGRATE, vm=name, host=self.uri, transient=False)

    @abc.abstractmethod
    def forget(self, name: str) -> None:
        """Drop an inactive VM's definition here (after it moved elsewhere); keeps no state."""

    # --- observation ----------------------------------------------------
    @abc.abstractmethod
    def inspect(self, name: str) -> VMInfo:
        """The VM's state here; ``ABSENT`` if this host does not know it."""

    @abc.abstractmethod
    def list(self) -> list[VMInfo]:
        """Every VM this host knows (active or defined)."""

    @abc.abstractmethod
    def host_info(self) -> HostInfo: ...

    @abc.abstractmethod
    def alive(self) -> bool:
        """Whether the hypervisor answers now (reconnecting if needed)."""

    # --- images ---------------------------------------------------------
    @abc.abstractmethod
    def stage_image(self, image: DiskImage, source: str | None = None) -> str:
        """Make ``image`` present on this host; returns its path there."""

    def close(self) -> None:
        pass

    def default_state_file(self, name: str) -> str:
        return str(self.state_dir / f"{name}.save")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.uri!r})"


#: moves a state file from one host's state dir to another's; returns the new path
StateMover = Callable[[str, "Driver", "Driver"], str]


def local_move(path: str, src: Driver, dest: Driver) -> str:
    """The default mover: both state dirs are on this machine (test driver, shared storage)."""
    dest.state_dir.mkdir(parents=True, exist_ok=True)
    target = dest.state_dir / Path(path).name
    if Path(path).resolve() != target.resolve():
        shutil.move(path, target)
    return str(target)


def migrate(src: Driver, dest: Driver, name: str, *, live: bool = True, mover: StateMover = local_move) -> VMInfo:
    """Move a VM from ``src`` to ``dest``.

    Live when asked and both hypervisors can; otherwise cold: save to a state
    file on ``src``, move the file, restore on ``dest``, drop the source
    definition. Safe to call again after a partial failure: a VM already
    running on ``dest`` is returned as is, a state file already moved is used.
    """
    if src.uri == dest.uri:
        raise HypervisorError("source and destination are the same host", op=OperationKind.MIGRATE, vm=name, transient=False)
    there = dest.inspect(name)
    if there.state in (VMState.RUNNING, VMState.PAUSED):
        here = src.inspect(name)
        if here.state not in (VMState.RUNNING, VMState.PAUSED):
            if here.state is not VMState.ABSENT:
                src.forget(name)
            return there
        raise HypervisorError(
            f"VM runs on both {src.uri} and {dest.uri}", op=OperationKind.MIGRATE, vm=name, transient=False
        )
    if live and src.can_migrate_live(dest):
        return src.migrate_live(name, dest)
    here = src.inspect(name)
    moved = Path(dest.default_state_file(name))
    if here.state in (VMState.RUNNING, VMState.PAUSED):
        here = src.suspend(name, src.default_state_file(name))
    if here.state is VMState.SUSPENDED and here.state_file:
        path = mover(here.state_file, src, dest)
    elif moved.exists():
        path = str(moved)  # an earlier attempt already moved it
    else:
        raise HypervisorError(
            f"nothing to migrate: VM is {here.state.value} on {src.uri}", op=OperationKind.MIGRATE, vm=name, transient=False
        )
    info = dest.resume(name, path)
    src.forget(name)
    return info
