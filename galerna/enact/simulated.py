"""The simulated driver: an in-memory hypervisor for the simulator and for tests.

It keeps VM states and state files in memory, checks capacity (unlike the
libvirt test driver) and takes no time at all: the simulator accounts for
durations on its own clock, and tests add latency with :mod:`galerna.enact.faults`.
"""
from __future__ import annotations

import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from galerna.model.lease import DiskImage

from galerna.enact.driver import Driver, HostInfo, HypervisorError, OperationKind as Op, VMInfo, VMSpec, VMState


@dataclass
class _VM:
    spec: VMSpec
    state: VMState


class SimulatedDriver(Driver):
    def __init__(self, uri: str, cpus: int = 8, memory_mb: int = 16384, state_dir: str | None = None):
        self.uri = uri
        self.cpus, self.memory_mb = cpus, memory_mb
        self.state_dir = Path(state_dir or tempfile.gettempdir()) / "galerna-sim" / uri.replace("/", "_").replace(":", "")
        self._vms: dict[str, _VM] = {}
        self._saved: dict[str, VMSpec] = {}  # state "files": path -> spec
        self._images: set[str] = set()
        self._lock = threading.RLock()
        self.up = True
        self.calls: list[tuple[str, str]] = []

    def _check_up(self, op: Op, name: str | None = None) -> None:
        if not self.up:
            raise HypervisorError("host unreachable", op=op, vm=name, host=self.uri, connection_lost=True)
        self.calls.append((op.value, name or ""))

    def _used(self) -> tuple[int, int]:
        running = [v.spec for v in self._vms.values() if v.state in (VMState.RUNNING, VMState.PAUSED)]
        return sum(s.vcpus for s in running), sum(s.memory_mb for s in running)

    def _info(self, name: str) -> VMInfo:
        vm = self._vms.get(name)
        if vm is None:
            sf = self.default_state_file(name)
            if sf in self._saved:
                return VMInfo(name, VMState.SUSPENDED, self.uri, state_file=sf)
            return VMInfo(name, VMState.ABSENT, self.uri)
        sf = self.default_state_file(name) if vm.state is VMState.SUSPENDED else None
        return VMInfo(name, vm.state, self.uri, vm.spec.vcpus, vm.spec.memory_mb, lease_id=vm.spec.lease_id, state_file=sf,
                      deployment=vm.spec.deployment)

    def _fits(self, spec: VMSpec, op: Op) -> None:
        cpu, mem = self._used()
        if cpu + spec.vcpus > self.cpus or mem + spec.memory_mb > self.memory_mb:
            raise HypervisorError(
                f"not enough capacity ({cpu}+{spec.vcpus} of {self.cpus} CPUs, {mem}+{spec.memory_mb} of {self.memory_mb} MB)",
                op=op, vm=spec.name, host=self.uri, transient=False,
            )

    def deploy(self, spec: VMSpec) -> VMInfo:
        with self._lock:
            self._check_up(Op.DEPLOY, spec.name)
            info = self._info(spec.name)
            if info.state in (VMState.RUNNING, VMState.PAUSED):
                return info
            if info.state is VMState.SUSPENDED:
                raise HypervisorError("VM has saved state here", op=Op.DEPLOY, vm=spec.name, host=self.uri, transient=False)
            self._fits(spec, Op.DEPLOY)
            self._vms[spec.name] = _VM(spec, VMState.RUNNING)
            return self._info(spec.name)

    def start(self, name: str) -> VMInfo:
        with self._lock:
            self._check_up(Op.START, name)
            vm = self._vms.get(name)
            if vm is None:
                raise HypervisorError("no such VM", op=Op.START, vm=name, host=self.uri, transient=False)
            if vm.state is VMState.SHUTOFF:
                self._fits(vm.spec, Op.START)
                vm.state = VMState.RUNNING
            return self._info(name)

    def shutdown(self, name: str, timeout: float = 30.0) -> VMInfo:
        return self.destroy(name, Op.SHUTDOWN)

    def destroy(self, name: str, _op: Op = Op.DESTROY) -> VMInfo:
        with self._lock:
            self._check_up(_op, name)
            self._vms.pop(name, None)
            self._saved.pop(self.default_state_file(name), None)
            return VMInfo(name, VMState.ABSENT, self.uri)

    def suspend(self, name: str, state_file: str | None = None) -> VMInfo:
        with self._lock:
            self._check_up(Op.SUSPEND, name)
            info = self._info(name)
            if info.state is VMState.SUSPENDED:
                return info
            if info.state not in (VMState.RUNNING, VMState.PAUSED):
                raise HypervisorError(f"cannot suspend a VM that is {info.state.value}", op=Op.SUSPEND, vm=name,
                                      host=self.uri, transient=False)
            vm = self._vms.pop(name)
            self._saved[self.default_state_file(name)] = vm.spec
            return self._info(name)

    def resume(self, name: str, state_file: str | None = None) -> VMInfo:
        with self._lock:
            self._check_up(Op.RESUME, name)
            info = self._info(name)
            if info.state is VMState.RUNNING:
                return info
            if info.state is VMState.PAUSED:
                self._vms[name].state = VMState.RUNNING
                return self._info(name)
            path = state_file if state_file in self._saved else info.state_file
            if path is None:
                raise HypervisorError(f"no saved state (VM is {info.state.value})", op=Op.RESUME, vm=name,
                                      host=self.uri, transient=False)
            spec = self._saved[path]
            self._fits(spec, Op.RESUME)
            del self._saved[path]
            self._vms[name] = _VM(spec, VMState.RUNNING)
            return self._info(name)

    def _flip(self, name: str, op: Op, need: VMState, to: VMState) -> VMInfo:
        with self._lock:
            self._check_up(op, name)
            vm = self._vms.get(name)
            if vm is None or vm.state not in (need, to):
                raise HypervisorError(f"cannot {op.value} a VM that is {self._info(name).state.value}", op=op, vm=name,
                                      host=self.uri, transient=False)
            vm.state = to
            return self._info(name)

    def pause(self, name: str) -> VMInfo:
        return self._flip(name, Op.PAUSE, VMState.RUNNING, VMState.PAUSED)

    def unpause(self, name: str) -> VMInfo:
        return self._flip(name, Op.UNPAUSE, VMState.PAUSED, VMState.RUNNING)

    def reboot(self, name: str) -> VMInfo:
        return self._flip(name, Op.REBOOT, VMState.RUNNING, VMState.RUNNING)

    def reset(self, name: str) -> VMInfo:
        return self._flip(name, Op.RESET, VMState.RUNNING, VMState.RUNNING)

    def forget(self, name: str) -> None:
        with self._lock:
            self._check_up(Op.MIGRATE, name)
            vm = self._vms.get(name)
            if vm is not None and vm.state in (VMState.RUNNING, VMState.PAUSED):
                raise HypervisorError("VM still runs here", op=Op.MIGRATE, vm=name, host=self.uri, transient=False)
            self._vms.pop(name, None)
            self._saved.pop(self.default_state_file(name), None)

    def export_state(self, path: str) -> VMSpec | None:
        return self._saved.pop(path, None)

    def import_state(self, path: str, spec: VMSpec) -> None:
        self._saved[path] = spec

    def inspect(self, name: str) -> VMInfo:
        with self._lock:
            self._check_up(Op.INSPECT, name)
            return self._info(name)

    def list(self) -> list[VMInfo]:
        with self._lock:
            self._check_up(Op.LIST)
            names = set(self._vms) | {Path(p).stem for p in self._saved}
            return [self._info(n) for n in sorted(names)]

    def host_info(self) -> HostInfo:
        self._check_up(Op.INSPECT)
        return HostInfo(self.uri, "simulated", self.cpus, self.memory_mb)

    def alive(self) -> bool:
        return self.up

    def stage_image(self, image: DiskImage, source: str | None = None) -> str:
        with self._lock:
            self._check_up(Op.STAGE_IMAGE, image.id)
            self._images.add(image.id)
            return f"sim://{self.uri}/{image.id}"

    def crash_all(self) -> None:
        """Power outage: every VM here is gone (saved state survives)."""
        with self._lock:
            self._vms.clear()


def simulated_move(path: str, src: Driver, dest: Driver) -> str:
    """State-file mover between simulated hosts."""
    assert isinstance(src, SimulatedDriver) and isinstance(dest, SimulatedDriver)
    spec = src.export_state(path)
    target = dest.default_state_file(spec.name if spec else Path(path).stem)
    if spec is not None:
        dest.import_state(target, spec)
    return target
