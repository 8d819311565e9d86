"""The in-memory state of the double: users, hosts, datastores, VM templates and VMs, with capacity accounting.

Every face of the double (XML-RPC, the SCHED_MAD harness, the ZeroMQ publisher) reads and changes this one model
under its lock. Transient states (PROLOG, BOOT, SAVE_SUSPEND, EPILOG, ...) are steps scheduled on the model's clock
and applied by a ticker thread, so they advance asynchronously after configurable delays, as in oned where drivers
answer later.
"""
from __future__ import annotations

import heapq
import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from .states import HistoryAction, HostState, Lcm, VmState
from .templates import Template


class Clock:
    """Wall-clock seconds (oned stamps STIME/ETIME with `time(0)`)."""

    def now(self) -> float:
        return time.time()


class ManualClock(Clock):
    """A clock that moves only when told to, for tests that control transient delays exactly."""

    def __init__(self, start: float = 1_750_000_000.0):
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds


@dataclass
class TransitionDelays:
    """Seconds each transient LCM state lasts before its driver "answers" (by LCM state name)."""

    default: float = 0.05
    overrides: dict[str, float] = field(default_factory=dict)

    def of(self, lcm_name: str) -> float:
        return self.overrides.get(lcm_name, self.default)

    def set(self, **delays: float) -> None:
        self.overrides.update(delays)


@dataclass
class User:
    id: int
    name: str
    password: str
    gid: int = 0
    gname: str = "oneadmin"


@dataclass
class Datastore:
    id: int
    name: str
    type: int  # 0 image, 1 system, 2 file (datastore.xsd)
    ds_mad: str
    tm_mad: str
    total_mb: int = 1_048_576
    used_mb: int = 0
    cluster_ids: list[int] = field(default_factory=lambda: [0])

    @property
    def free_mb(self) -> int:
        return self.total_mb - self.used_mb


@dataclass
class Host:
    id: int
    name: str
    max_cpu: int  # cores x 100
    max_mem: int  # KB
    state: int = HostState.MONITORED
    prev_state: int = HostState.MONITORED
    im_mad: str = "kvm"
    vm_mad: str = "kvm"
    cluster_id: int = 0
    cluster: str = "default"
    cpu_usage: int = 0
    mem_usage: int = 0
    vm_ids: list[int] = field(default_factory=list)
    template: Template = field(default_factory=Template)

    @property
    def running_vms(self) -> int:
        return len(self.vm_ids)

    def fits(self, cpu: int, mem: int) -> str | None:
        """`HostShare::test_compute`: None when (cpu, mem) fit, else its message."""
        if self.max_cpu - self.cpu_usage < cpu:
            return f"Not enough CPU: {cpu}/{self.max_cpu - self.cpu_usage}"
        if self.max_mem - self.mem_usage < mem:
            return f"Not enough memory: {mem}/{self.max_mem - self.mem_usage}"
        return None


@dataclass
class History:
    """One history record: one stay of a VM on a host and system datastore."""

    seq: int
    hid: int
    hostname: str
    ds_id: int
    tm_mad: str
    stime: int
    cid: int = 0
    vm_mad: str = "kvm"
    etime: int = 0
    action: int = HistoryAction.NONE
    pstime: int = 0
    petime: int = 0
    rstime: int = 0
    retime: int = 0
    estime: int = 0
    eetime: int = 0
    plan_id: int = -1
    action_id: int = -1


@dataclass
class VmTemplate:
    id: int
    name: str
    uid: int
    gid: int
    template: Template
    regtime: int


@dataclass
class Vm:
    id: int
    uid: int
    gid: int
    uname: str
    gname: str
    name: str
    template: Template
    user_template: Template
    stime: int
    state: int = VmState.PENDING
    lcm_state: int = Lcm.LCM_INIT
    prev_state: int = VmState.PENDING
    prev_lcm_state: int = Lcm.LCM_INIT
    resched: int = 0
    etime: int = 0
    deploy_id: str = ""
    history: list[History] = field(default_factory=list)
    capacity_host: int | None = None  # the host whose HOST_SHARE holds this VM's CPU/MEMORY
    steps_token: int = 0  # bumped when a new chain of transient steps replaces the running one

    @property
    def cpu(self) -> int:
        """Host-share CPU demand in OpenNebula's units: TEMPLATE/CPU (cores) x 100."""
        return int(round(float(self.template.get("CPU", "0")) * 100))

    @property
    def memory_kb(self) -> int:
        """Host-share memory demand: TEMPLATE/MEMORY (MB) x 1024."""
        return int(self.template.get("MEMORY", "0")) * 1024

    @property
    def last_history(self) -> History | None:
        return self.history[-1] if self.history else None


@dataclass
class ApiCall:
    """One finished non-info XML-RPC call, as oned hands it to its API hooks (`HookAPI::format_message`)."""

    method: str
    params: list  # after the session
    success: bool
    value: object  # the result, or the error message
    code: int
    resp_id: int = -1
    extra_xml: str = ""  # the allocated object's XML, for one.*.allocate


@dataclass(order=True)
class _Step:
    due: float
    order: int
    vm_id: int = field(compare=False)
    token: int = field(compare=False)
    apply: Callable[[], None] = field(compare=False)


class Model:
    """The double's whole state, its lock, its clock, its scheduled transient steps and its event listeners."""

    def __init__(self, clock: Clock | None = None, delays: TransitionDelays | None = None,
                 admin_password: str = "opennebula"):
        self.lock = threading.RLock()
        self.clock = clock or Clock()
        self.delays = delays or TransitionDelays()
        self.users: dict[int, User] = {0: User(0, "oneadmin", admin_password)}
        self.hosts: dict[int, Host] = {}
        self.vms: dict[int, Vm] = {}
        self.templates: dict[int, VmTemplate] = {}
        # A fresh OpenNebula install: system DS 0, image DS 1, file DS 2 (all in cluster 0 "default").
        self.datastores: dict[int, Datastore] = {
            0: Datastore(0, "system", 1, "-", "ssh"),
            1: Datastore(1, "default", 0, "fs", "ssh"),
            2: Datastore(2, "files", 2, "fs", "ssh"),
        }
        self.clusters: dict[int, str] = {0: "default"}
        self._next_vm = itertools.count(0)
        self._next_host = itertools.count(0)
        self._next_template = itertools.count(0)
        self._steps: list[_Step] = []
        self._step_order = itertools.count()
        self.vm_listeners: list[Callable[[Vm], None]] = []
        self.host_listeners: list[Callable[[Host], None]] = []
        self.api_listeners: list[Callable[[ApiCall], None]] = []
        self.place_listeners: list[Callable[[Vm], None]] = []
        self.changed = threading.Condition(self.lock)
        # Fault injection (see faults.py): host id -> LCM failure for the next deploy there.
        self.deploy_faults: dict[int, list[tuple[Lcm, str]]] = {}  # host -> (failure, driver message), in order

    # ---- time -------------------------------------------------------------------------------------------------
    def now(self) -> int:
        return int(self.clock.now())

    def set_error_message(self, vm: Vm, text: str, name: str = "ERROR") -> None:
        """`VirtualMachine::set_template_error_message`: USER_TEMPLATE/<name> = "<ctime> : <text>"."""
        with self.lock:
            vm.user_template.set(name, f"{time.ctime(self.now())} : {text}")
            self.vm_changed(vm)

    # ---- hosts, users, templates ------------------------------------------------------------------------------
    def add_host(self, name: str, cpu_cores: float = 4, memory_mb: int = 8192, cluster_id: int = 0) -> Host:
        """Add a MONITORED host; capacity in the units tests think in, stored in oned's (cores x 100, KB)."""
        with self.lock:
            hid = next(self._next_host)
            host = Host(hid, name, int(round(cpu_cores * 100)), memory_mb * 1024, cluster_id=cluster_id,
                        cluster=self.clusters.get(cluster_id, "default"))
            host.template.set("HOSTNAME", name)
            self.hosts[hid] = host
            return host

    def add_user(self, name: str, password: str, gid: int = 1, gname: str = "users") -> User:
        with self.lock:
            uid = max(self.users) + 1
            self.users[uid] = User(uid, name, password, gid, gname)
            return self.users[uid]

    def authenticate(self, session: str) -> User | None:
        """The core auth driver: `user:password`."""
        name, sep, password = session.partition(":")
        if not sep:
            return None
        for user in self.users.values():
            if user.name == name and user.password == password:
                return user
        return None

    def add_template(self, name: str, template: Template, user: User) -> VmTemplate:
        with self.lock:
            tid = next(self._next_template)
            self.templates[tid] = VmTemplate(tid, name, user.id, user.gid, template, self.now())
            return self.templates[tid]

    def new_vm_id(self) -> int:
        return next(self._next_vm)

    # ---- state changes and events -----------------------------------------------------------------------------
    def set_state(self, vm: Vm, state: int, lcm: int = Lcm.LCM_INIT) -> None:
        """Move a VM, record PREV_*, and tell the listeners (oned's `VirtualMachinePool::update` -> state hook)."""
        with self.lock:
            if (vm.state, vm.lcm_state) == (state, lcm):
                return
            vm.prev_state, vm.prev_lcm_state = vm.state, vm.lcm_state
            vm.state, vm.lcm_state = int(state), int(lcm)
            if state == VmState.DONE:
                vm.etime = self.now()
            self.vm_changed(vm)

    def vm_changed(self, vm: Vm) -> None:
        with self.lock:
            for listener in list(self.vm_listeners):
                listener(vm)
            self.changed.notify_all()

    def set_host_state(self, host: Host, state: int) -> None:
        with self.lock:
            if host.state == state:
                return
            host.prev_state, host.state = host.state, int(state)
            for listener in list(self.host_listeners):
                listener(host)
            self.changed.notify_all()

    def trigger_place(self, vm: Vm) -> None:
        """oned's `SchedulerManager::trigger_place` (allocate, release, resume from STOPPED/UNDEPLOYED, resched)."""
        for listener in list(self.place_listeners):
            listener(vm)

    def api_called(self, call: ApiCall) -> None:
        for listener in list(self.api_listeners):
            listener(call)

    # ---- capacity ---------------------------------------------------------------------------------------------
    def add_capacity(self, vm: Vm, host: Host) -> None:
        host.cpu_usage += vm.cpu
        host.mem_usage += vm.memory_kb
        host.vm_ids.append(vm.id)
        vm.capacity_host = host.id

    def del_capacity(self, vm: Vm) -> None:
        if vm.capacity_host is None:
            return
        host = self.hosts[vm.capacity_host]
        host.cpu_usage -= vm.cpu
        host.mem_usage -= vm.memory_kb
        host.vm_ids.remove(vm.id)
        vm.capacity_host = None

    # ---- transient steps --------------------------------------------------------------------------------------
    def run_steps(self, vm: Vm, steps: list[tuple[int, int, Callable[[], None] | None]]) -> None:
        """Enter steps[0] now; enter each next step after the delay of the one before (by its LCM name).

        A step is (state, lcm, on_enter). A new chain on the same VM cancels what is left of the old one, as a
        `terminate-hard` overrides a frozen SHUTDOWN.
        """
        with self.lock:
            vm.steps_token += 1
            token = vm.steps_token
            due = self.clock.now()
            previous_name = None
            for index, (state, lcm, on_enter) in enumerate(steps):
                if index == 0:
                    self._enter(vm, state, lcm, on_enter)
                else:
                    due += self.delays.of(previous_name)
                    heapq.heappush(self._steps, _Step(due, next(self._step_order), vm.id, token,
                                                      self._bind_enter(vm, state, lcm, on_enter)))
                previous_name = Lcm(lcm).name if state == VmState.ACTIVE else VmState(state).name

    def _bind_enter(self, vm: Vm, state: int, lcm: int, on_enter: Callable[[], None] | None) -> Callable[[], None]:
        return lambda: self._enter(vm, state, lcm, on_enter)

    def _enter(self, vm: Vm, state: int, lcm: int, on_enter: Callable[[], None] | None) -> None:
        if on_enter is not None:
            on_enter()
        self.set_state(vm, state, lcm)

    def cancel_steps(self, vm: Vm) -> None:
        with self.lock:
            vm.steps_token += 1

    def tick(self) -> None:
        """Apply every step now due (called by the ticker thread and before each request)."""
        with self.lock:
            now = self.clock.now()
            while self._steps and self._steps[0].due <= now:
                step = heapq.heappop(self._steps)
                if step.token == self.vms[step.vm_id].steps_token:
                    step.apply()

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Block until predicate() holds under the lock (re-checked on every change), or time out."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.changed.wait(min(left, 0.05))
                self.tick()
            return True


class Ticker:
    """A daemon thread that applies due transient steps every `period` seconds."""

    def __init__(self, model: Model, period: float = 0.01):
        self.model = model
        self.period = period
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="oned-double-ticker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self.model.tick()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
