"""oned's side of SCHED_MAD: start a scheduler driver program as oned does, send it PLACE, apply its PLANs.

Start-up follows `include/Driver.h`: fork/exec `EXECUTABLE` with the whole `ARGUMENTS` string as ONE argv entry,
stdin/stdout on pipes, **stderr closed**; write `INIT\n`, wait at most 10 s, read at most 31 bytes and expect
`INIT SUCCESS`. Messages are `TYPE STATUS ID B64PAYLOAD` lines (`include/Message.h`, base64, not compressed):
oned writes `PLACE  -1 <b64 SCHEDULER_DRIVER_ACTION>` (empty status: two spaces) and reads `PLACE SUCCESS|FAILURE
-1 <b64>` and `LOG <I|W|E|D> <vm_id> <b64 text>` (E sets USER_TEMPLATE/SCHED_MESSAGE). The document follows
`SchedulerManagerDriver::scheduler_message`; PLACE is only sent when a pending VM matches a MONITORED host.
`OPTIMIZE  <cluster_id> <b64>` (a cluster's running VMs and its hosts in state 1 or 2) is sent on demand, as
`one.cluster.optimize` would; its PLAN waits READY unless the cluster's automation is `full`.
"""
from __future__ import annotations

import base64
import os
import select
import subprocess
import threading
import time
from dataclasses import dataclass

from . import documents
from .model import Model, Vm
from .plan_manager import PlanManager
from .requirements import RequirementsError, evaluate
from .states import HostState, Lcm, VmState


class HarnessError(RuntimeError):
    """The driver did not start or speak the protocol as oned requires (oned's own error text)."""


@dataclass
class DriverMessage:
    type: str
    status: str
    oid: str
    payload: str  # decoded


def pending_vms(model: Model) -> list[Vm]:
    """`VirtualMachinePool::get_pending`: PENDING, or POWEROFF/RUNNING/UNKNOWN with RESCHED=1."""
    out = []
    for vm in sorted(model.vms.values(), key=lambda v: v.id):
        if vm.state == VmState.PENDING:
            out.append(vm)
        elif vm.resched and (vm.state == VmState.POWEROFF
                             or (vm.state == VmState.ACTIVE and vm.lcm_state in (Lcm.RUNNING, Lcm.UNKNOWN))):
            out.append(vm)
    return out


def _set_sched_message(model: Model, vm: Vm, text: str) -> None:
    model.set_error_message(vm, text, "SCHED_MESSAGE")


def _match(model: Model, vms: list[Vm], hosts: list, ebase: str) -> list[tuple[Vm, list[int]]]:
    """`SchedulerManagerDriver::match` (hosts only: authorization is oneadmin's, networks are not modelled)."""
    matched = []
    for vm in vms:
        requirements = vm.user_template.get("SCHED_REQUIREMENTS", "")
        candidates = []
        try:
            for host in hosts:
                if vm.resched and vm.last_history is not None and vm.last_history.hid == host.id:
                    continue  # a rescheduled VM cannot go back to its host
                if evaluate(requirements if isinstance(requirements, str) else "", host):
                    candidates.append(host.id)
        except RequirementsError as exc:
            _set_sched_message(model, vm, f"{ebase}Error in SCHED_REQUIREMENTS: '{requirements}', error: {exc}")
            continue
        if not candidates:
            _set_sched_message(model, vm, f"{ebase}No host meets SCHED_REQUIREMENTS")
            continue
        matched.append((vm, candidates))
    return matched


def _document(model: Model, matched: list[tuple[Vm, list[int]]], clusters: list[int] | None = None) -> str:
    """`SchedulerManagerDriver::scheduler_message`."""
    system_ds = sorted(ds.id for ds in model.datastores.values() if ds.type == 1)
    host_ids = sorted({hid for _, ids in matched for hid in ids})
    requirements_xml = "".join(
        f"<VM><ID>{vm.id}</ID><HOSTS>{''.join(f'<ID>{h}</ID>' for h in ids)}</HOSTS>"
        f"<DATASTORES>{''.join(f'<ID>{d}</ID>' for d in system_ds)}</DATASTORES></VM>" for vm, ids in matched)
    return ("<SCHEDULER_DRIVER_ACTION>"
            + documents.vm_pool([vm for vm, _ in matched], extended=True)
            + documents.host_pool(model, [model.hosts[h] for h in host_ids])
            + documents.datastore_pool(model)
            + "<VNET_POOL/><VM_GROUP_POOL/>"
            + documents.cluster_pool(model, clusters)
            + f"<REQUIREMENTS>{requirements_xml}</REQUIREMENTS>"
            + "</SCHEDULER_DRIVER_ACTION>")


def scheduler_driver_action(model: Model) -> str | None:
    """The PLACE document, or None when no pending VM matches (then oned sends nothing)."""
    with model.lock:
        vms = pending_vms(model)
        if not vms:
            return None
        hosts = [h for h in sorted(model.hosts.values(), key=lambda h: h.id) if h.state == HostState.MONITORED]
        if not hosts:
            for vm in vms:
                _set_sched_message(model, vm, "Cannot dispatch VM: No hosts enabled to run VMs")
            return None
        matched = _match(model, vms, hosts, "Cannot dispatch VM: ")
        return _document(model, matched) if matched else None


def optimize_document(model: Model, cluster_id: int) -> str | None:
    """The OPTIMIZE document for a cluster (`setup_optimize_pools`): its running VMs and its hosts in state 1
    or 2; None when there is nothing to optimize (then oned sends nothing)."""
    with model.lock:
        hosts = [h for h in sorted(model.hosts.values(), key=lambda h: h.id)
                 if h.cluster_id == cluster_id and h.state in (HostState.MONITORING_MONITORED, HostState.MONITORED)]
        on_hosts = {h.id for h in model.hosts.values() if h.cluster_id == cluster_id}
        vms = [vm for vm in sorted(model.vms.values(), key=lambda v: v.id)
               if vm.state == VmState.ACTIVE and vm.lcm_state == Lcm.RUNNING and vm.capacity_host in on_hosts]
        if not vms or not hosts:
            return None
        matched = _match(model, vms, hosts, "Optimize: ")
        return _document(model, matched, [cluster_id]) if matched else None


class SchedMadHarness:
    """One scheduler driver process and the oned logic around it (PLACE triggering, the Plan Manager)."""

    def __init__(self, model: Model, executable: str, arguments: str = "", *, max_actions_per_host: int = 1,
                 max_actions_per_cluster: int = 30, action_timeout: float = 300, manager_timer: float = 15.0,
                 sched_max_wnd_time: float = 10, sched_max_wnd_length: int = 7, sched_retry_time: float = 60,
                 timer_period: float = 5.0, env: dict[str, str] | None = None):
        self.model = model
        self.executable = executable
        self.arguments = arguments
        self.env = env
        self.plans = PlanManager(model, max_actions_per_host, max_actions_per_cluster, action_timeout)
        self.plans.on_placement_finished = self._placement_finished
        self.manager_timer = manager_timer
        self.wnd_time, self.wnd_length, self.retry_time = sched_max_wnd_time, sched_max_wnd_length, sched_retry_time
        self.timer_period = timer_period
        self.process: subprocess.Popen | None = None
        self.received: list[DriverMessage] = []
        self.sent: list[str] = []  # the decoded documents sent with PLACE
        self.logs: list[tuple[str, int, str]] = []  # (level, vm id, text) from LOG messages
        self.protocol_errors: list[str] = []
        self.restarts = 0  # times the driver died and was started again
        self.initialised = 0  # successful INITs (1 + restarts once a restart is through)
        self._window: list[int] = []
        self._window_start: float | None = None
        self._last_place = 0.0
        self._place_soon = False
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._reply = threading.Condition(model.lock)
        model.place_listeners.append(self._on_trigger_place)

    # ---- the driver process -----------------------------------------------------------------------------------
    def start(self, automatic: bool = False) -> None:
        """Start the driver and INIT it; with `automatic`, also run oned's PLACE and plan timers in threads."""
        self._start_driver()
        self._spawn(self._listen)
        if automatic:
            self._spawn(self._scheduler_timer)
            self._spawn(self._plan_timer)

    def _start_driver(self) -> None:
        """`Driver::start_driver`: exec with stderr closed, `INIT`, at most 10 s and 31 bytes for the answer."""
        self.process = subprocess.Popen(
            [self.executable, self.arguments], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            preexec_fn=lambda: os.close(2), env=self.env, close_fds=True)
        self._write("INIT\n")
        ready, _, _ = select.select([self.process.stdout], [], [], 10)
        if not ready:
            self._kill()
            raise HarnessError("Driver initialization time out")
        head = os.read(self.process.stdout.fileno(), 31).decode(errors="replace")
        if head.split()[:2] != ["INIT", "SUCCESS"]:
            self._kill()
            raise HarnessError("Driver initialization failed, expected INIT SUCCESS message")
        with self.model.lock:
            self.initialised += 1
            self.model.changed.notify_all()

    def _kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        if self.process is not None:
            self.process.wait()

    def _spawn(self, target) -> None:
        thread = threading.Thread(target=target, daemon=True, name=f"sched-harness-{target.__name__}")
        self._threads.append(thread)
        thread.start()

    def _write(self, line: str) -> None:
        self.process.stdin.write(line.encode())
        self.process.stdin.flush()

    def stop(self) -> None:
        """`FINALIZE`, then wait for the driver to exit (killed after 5 s)."""
        self._stop.set()
        if self.process is not None and self.process.poll() is None:
            try:
                self._write("FINALIZE\n")
                self.process.stdin.close()
            except (BrokenPipeError, OSError):
                pass
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._on_trigger_place in self.model.place_listeners:
            self.model.place_listeners.remove(self._on_trigger_place)
        if self.plans._on_vm_change in self.model.vm_listeners:
            self.model.vm_listeners.remove(self.plans._on_vm_change)
        for thread in self._threads:
            thread.join(timeout=5)

    # ---- oned -> driver ---------------------------------------------------------------------------------------
    def place(self) -> str | None:
        """Send one PLACE now; returns the document sent, or None when nothing matched (nothing is sent)."""
        with self.model.lock:
            document = scheduler_driver_action(self.model)
            self._window, self._window_start = [], None
            self._last_place = self.model.clock.now()
            if document is None:
                return None
            self.sent.append(document)
            try:
                self._write(f"PLACE  -1 {base64.b64encode(document.encode()).decode()}\n")
            except (BrokenPipeError, OSError) as exc:  # the driver died; the listener restarts it
                self.protocol_errors.append(f"cannot write to the driver: {exc}")
            return document

    def optimize(self, cluster_id: int = 0) -> str | None:
        """Send `OPTIMIZE  <cluster_id> <b64>` now (as DRS_INTERVAL or one.cluster.optimize would)."""
        with self.model.lock:
            document = optimize_document(self.model, cluster_id)
            if document is None:
                return None
            self.sent.append(document)
            try:
                self._write(f"OPTIMIZE  {cluster_id} {base64.b64encode(document.encode()).decode()}\n")
            except (BrokenPipeError, OSError) as exc:
                self.protocol_errors.append(f"cannot write to the driver: {exc}")
            return document

    def wait_reply(self, count: int = 1, timeout: float = 10.0, kind: str = "PLACE") -> list[DriverMessage]:
        """Block until `count` answers of this kind (PLACE or OPTIMIZE) in total have arrived; returns them."""
        deadline = time.monotonic() + timeout
        with self._reply:
            while sum(m.type == kind for m in self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {kind} answer from the driver within {timeout} s "
                                       f"(received {self.received}, errors {self.protocol_errors})")
                self._reply.wait(left)
            return [m for m in self.received if m.type == kind]

    def tick(self) -> None:
        """One Plan Manager timer action: time out and start the next actions of the placement plan."""
        self.plans.execute()

    # ---- driver -> oned ---------------------------------------------------------------------------------------
    def _listen(self) -> None:
        """Read driver lines; when the driver dies, restart it as oned's listener thread does."""
        while True:
            self._read_lines()
            if self._stop.is_set():
                return
            with self.model.lock:
                self.restarts += 1
            self._kill()
            try:
                self._start_driver()
            except HarnessError as exc:
                with self.model.lock:
                    self.protocol_errors.append(f"driver restart failed: {exc}")
                    self._reply.notify_all()
                return

    def _read_lines(self) -> None:
        for raw in self.process.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            if not line.strip():
                continue
            parts = line.split(" ")
            if len(parts) < 4:
                with self.model.lock:
                    self.protocol_errors.append(f"malformed driver message: {line!r}")
                    self._reply.notify_all()
                continue
            kind, status, oid, payload = parts[0], parts[1], parts[2], " ".join(parts[3:])
            try:
                text = base64.b64decode(payload.strip(), validate=True).decode()
            except (ValueError, UnicodeDecodeError):
                with self.model.lock:
                    self.protocol_errors.append(f"payload is not base64: {line!r}")
                    self._reply.notify_all()
                continue
            with self.model.lock:
                message = DriverMessage(kind, status, oid, text)
                self.received.append(message)
                self._handle(message)
                self._reply.notify_all()

    def _handle(self, message: DriverMessage) -> None:
        if message.type in ("PLACE", "OPTIMIZE") and message.status == "SUCCESS":
            self.plans.add_plan(message.payload)
        elif message.type in ("PLACE", "OPTIMIZE"):
            self.plans.log.append(f"Error {message.type.lower()} ({message.oid}): {message.payload}")
        elif message.type == "LOG":
            try:
                vid = int(message.oid)
            except ValueError:
                vid = -1
            self.logs.append((message.status, vid, message.payload))
            vm = self.model.vms.get(vid)
            if message.status == "E" and vm is not None:
                _set_sched_message(self.model, vm, message.payload)
        else:
            self.protocol_errors.append(f"unexpected driver message type {message.type}")

    # ---- oned's timers ----------------------------------------------------------------------------------------
    def _on_trigger_place(self, vm: Vm) -> None:
        """`trigger_place` opens (or joins) the scheduling window."""
        if vm.id not in self._window:
            self._window.append(vm.id)
            if self._window_start is None:
                self._window_start = self.model.clock.now()

    def _placement_finished(self) -> None:
        """`place_finished`: a completed placement plan asks for the next PLACE."""
        self._place_soon = True

    def scheduler_tick(self) -> str | None:
        """`SchedulerManager::timer_action`: PLACE when the window is old or long enough, or on retry."""
        with self.model.lock:
            now = self.model.clock.now()
            due = (self._window and (now - self._window_start >= self.wnd_time
                                     or len(self._window) >= self.wnd_length))
            retry = bool(pending_vms(self.model)) and now - self._last_place >= self.retry_time
            if due or retry or self._place_soon:
                self._place_soon = False
                return self.place()
            return None

    def _scheduler_timer(self) -> None:
        while not self._stop.wait(self.timer_period):
            self.scheduler_tick()

    def _plan_timer(self) -> None:
        while not self._stop.wait(self.manager_timer):
            self.tick()
