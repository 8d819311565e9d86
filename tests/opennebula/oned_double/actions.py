"""What the VM requests of oned do to the model: allocate, deploy, the per-state action matrix, migrate, update.

Each function follows the oned function named in its docstring (`src/rm/api/VirtualMachineAPI.cc`,
`src/dm/DispatchManagerActions.cc`, `src/lcm/LifeCycleActions.cc`); it raises OnedError with oned's code and message,
and starts the chain of transient states the drivers would walk through.
"""
from __future__ import annotations

from .errors import ErrorCode, OnedError, action_error, no_such
from .model import History, Model, User, Vm
from .states import FAILURE_STATES, HistoryAction, HostState, Lcm, VmState, state_str
from .templates import Template, TemplateSyntaxError, parse_template

# Attributes oned moves from the user's template into TEMPLATE (the elements vm.xsd allows there); every other
# attribute, HAIZEA=[...] included, stays in USER_TEMPLATE.
TEMPLATE_ATTRIBUTES = (
    "AUTOMATIC_DS_REQUIREMENTS", "AUTOMATIC_NIC_REQUIREMENTS", "AUTOMATIC_REQUIREMENTS", "CLONING_TEMPLATE_ID",
    "CONTEXT", "CPU", "CPU_COST", "DISK", "DISK_COST", "EMULATOR", "FEATURES", "HYPERV_OPTIONS", "GRAPHICS", "VIDEO",
    "IMPORTED", "INPUT", "MEMORY", "MEMORY_COST", "MEMORY_MAX", "MEMORY_SLOTS", "MEMORY_RESIZE_MODE", "NIC",
    "NIC_ALIAS", "NIC_DEFAULT", "NUMA_NODE", "OS", "PCI", "QEMU_GA_EXEC", "RAW", "SECURITY_GROUP_RULE", "SNAPSHOT",
    "SPICE_OPTIONS", "SUBMIT_ON_HOLD", "TEMPLATE_ID", "TM_MAD_SYSTEM", "TOPOLOGY", "TPM", "MEMORY_ENCRYPTION", "VCPU",
    "VCPU_MAX", "VMGROUP", "VMID", "VROUTER_ID", "VROUTER_KEEPALIVED_ID", "VROUTER_KEEPALIVED_PASSWORD",
    "SCHED_ACTION",
)
AUTOMATIC_REQUIREMENTS = "!(PUBLIC_CLOUD = YES) & !(PIN_POLICY = PINNED)"

# one.vm.action names (`VMActions::action_from_str`) that `VirtualMachineAction` dispatches.
VM_ACTIONS = ("terminate", "terminate-hard", "undeploy", "undeploy-hard", "poweroff", "poweroff-hard", "reboot",
              "reboot-hard", "hold", "release", "stop", "suspend", "resume", "resched", "unresched")


def _vm(model: Model, vid: int) -> Vm:
    vm = model.vms.get(vid)
    if vm is None:
        raise no_such("VM", vid)
    return vm


def _positive_float(value: object) -> bool:
    try:
        return float(value) > 0
    except (TypeError, ValueError):
        return False


def _positive_int(value: object) -> bool:
    try:
        return int(value) > 0
    except (TypeError, ValueError):
        return False


# ---- allocate -----------------------------------------------------------------------------------------------------
def allocate(model: Model, user: User, text: str, on_hold: bool) -> int:
    """`VirtualMachineAllocate` + `VirtualMachine::insert`: parse, split TEMPLATE/USER_TEMPLATE, check CPU/MEMORY."""
    try:
        given = parse_template(text)
    except TemplateSyntaxError as exc:
        raise OnedError(ErrorCode.INTERNAL, str(exc)) from None
    return allocate_template(model, user, given, on_hold)


def allocate_template(model: Model, user: User, given: Template, on_hold: bool) -> int:
    if not _positive_float(given.get("CPU")):
        raise OnedError(ErrorCode.ALLOCATE, "CPU attribute must be a positive float or integer value.")
    if "VCPU" in given and not _positive_int(given.get("VCPU")):
        raise OnedError(ErrorCode.ALLOCATE, "VCPU attribute must be a positive integer value.")
    if not _positive_int(given.get("MEMORY")):
        raise OnedError(ErrorCode.ALLOCATE, "MEMORY attribute must be a positive integer value.")
    with model.lock:
        vid = model.new_vm_id()
        name = given.get("NAME")
        template, user_template = Template(), Template()
        for key, value in given.attrs:
            if key == "NAME":
                continue
            (template if key in TEMPLATE_ATTRIBUTES else user_template).add(key, value)
        template.set("AUTOMATIC_REQUIREMENTS", AUTOMATIC_REQUIREMENTS)
        template.set("TM_MAD_SYSTEM", "")
        template.set("VMID", str(vid))
        hold = on_hold or str(given.get("SUBMIT_ON_HOLD", "")).upper() == "YES"
        state = VmState.HOLD if hold else VmState.PENDING
        vm = Vm(vid, user.id, user.gid, user.name, user.gname, name if isinstance(name, str) and name else f"one-{vid}",
                template, user_template, stime=model.now(), state=state, prev_state=state)
        model.vms[vid] = vm
        model.vm_changed(vm)  # allocate fires a state event (VirtualMachinePool::allocate)
        if not hold:
            model.trigger_place(vm)
        return vid


def instantiate(model: Model, user: User, tid: int, name: str, on_hold: bool, extra: str) -> int:
    """`VMTemplateInstantiate`: the template merged with the extra one, allocated as a VM."""
    with model.lock:
        vmt = model.templates.get(tid)
        if vmt is None:
            raise no_such("TEMPLATE", tid)
        merged = vmt.template.copy()
        if extra.strip():
            try:
                merged.merge(parse_template(extra))
            except TemplateSyntaxError as exc:
                raise OnedError(ErrorCode.INTERNAL, str(exc)) from None
        merged.set("TEMPLATE_ID", str(tid))
        if name:
            merged.set("NAME", name)
        elif "NAME" not in merged:
            merged.set("NAME", f"{vmt.name}-{len(model.vms)}")
        return allocate_template(model, user, merged, on_hold)


# ---- deploy -------------------------------------------------------------------------------------------------------
_DEPLOY_FLOW = {
    # from state: (prolog LCM, boot LCM, prolog failure, boot failure)
    VmState.PENDING: (Lcm.PROLOG, Lcm.BOOT, Lcm.PROLOG_FAILURE, Lcm.BOOT_FAILURE),
    VmState.HOLD: (Lcm.PROLOG, Lcm.BOOT, Lcm.PROLOG_FAILURE, Lcm.BOOT_FAILURE),
    VmState.STOPPED: (Lcm.PROLOG_RESUME, Lcm.BOOT_STOPPED, Lcm.PROLOG_RESUME_FAILURE, Lcm.BOOT_STOPPED_FAILURE),
    VmState.UNDEPLOYED: (Lcm.PROLOG_UNDEPLOY, Lcm.BOOT_UNDEPLOY, Lcm.PROLOG_UNDEPLOY_FAILURE,
                         Lcm.BOOT_UNDEPLOY_FAILURE),
}


def deploy(model: Model, vid: int, hid: int, enforce: bool, ds_id: int, nic_template: str = "",
           plan_id: int = -1, action_id: int = -1) -> int:
    """`VirtualMachineDeploy`: state check, `check_host` (only when enforcing), history, capacity, PROLOG->BOOT."""
    with model.lock:
        vm = _vm(model, vid)
        host = model.hosts.get(hid)
        if host is None:
            raise no_such("HOST", hid)
        if ds_id == -1:
            ds_id = next(ds.id for ds in model.datastores.values() if ds.type == 1)
        ds = model.datastores.get(ds_id)
        if ds is None:
            raise no_such("DATASTORE", ds_id)
        if ds.type != 1:
            raise action_error(f"Datastore [{ds_id}] is not a system datastore")
        if vm.state not in _DEPLOY_FLOW:
            raise action_error(f"Deploy action is not available for state {state_str(vm.state, vm.lcm_state)}")
        if enforce:
            why = host.fits(vm.cpu, vm.memory_kb)
            if why:
                raise action_error(f"virtual machine [{vid}] does not fit in host [{hid}]. {why}")
        if nic_template.strip():
            try:
                for nic in parse_template(nic_template).get_all("NIC"):
                    if isinstance(nic, dict):
                        vm.template.add("NIC", dict(nic))
            except TemplateSyntaxError as exc:
                raise OnedError(ErrorCode.INTERNAL, str(exc)) from None
        prolog, boot, prolog_failure, boot_failure = _DEPLOY_FLOW[VmState(vm.state)]
        now = model.now()
        vm.history.append(History(seq=len(vm.history), hid=hid, hostname=host.name, ds_id=ds_id, tm_mad=ds.tm_mad,
                                  stime=now, pstime=now, cid=host.cluster_id, vm_mad=host.vm_mad,
                                  plan_id=plan_id, action_id=action_id))
        vm.template.set("TM_MAD_SYSTEM", ds.tm_mad)
        model.add_capacity(vm, host)
        vm.deploy_id = ""
        failure, message = _next_fault(model, hid)
        boot_enter = _set_deploy_id(vm)
        if failure == Lcm.PROLOG_FAILURE:
            steps = [(VmState.ACTIVE, prolog, None),
                     (VmState.ACTIVE, prolog_failure, _driver_error(model, vm, "TRANSFER", message))]
        elif failure == Lcm.BOOT_FAILURE:
            steps = [(VmState.ACTIVE, prolog, None), (VmState.ACTIVE, boot, None),
                     (VmState.ACTIVE, boot_failure, _driver_error(model, vm, "DEPLOY", message))]
        else:
            steps = [(VmState.ACTIVE, prolog, None), (VmState.ACTIVE, boot, boot_enter),
                     (VmState.ACTIVE, Lcm.RUNNING, _running_since(model, vm))]
        model.run_steps(vm, steps)
        return vid


def _next_fault(model: Model, hid: int) -> tuple[Lcm | None, str]:
    """The failure (and driver message) injected for the next deploy to host `hid`, if any."""
    fault = model.deploy_faults.get(hid, [])
    return fault.pop(0) if fault else (None, "")


def _driver_error(model: Model, vm: Vm, kind: str, message: str):
    """`VirtualMachineManager::log_error`: a driver's failure answer becomes USER_TEMPLATE/ERROR = "<ctime> : KIND:
    <payload>" (`src/vmm/VirtualMachineManagerProtocol.cc`; the transfer manager's is "TRANSFER"), when the
    payload is not empty."""
    def enter() -> None:
        if message:
            model.set_error_message(vm, f"{kind}: {message}")
    return enter


def _set_deploy_id(vm: Vm):
    def enter() -> None:
        vm.deploy_id = f"one-{vm.id}"
    return enter


def _running_since(model: Model, vm: Vm):
    def enter() -> None:
        record = vm.last_history
        if record is not None:
            record.petime = record.petime or model.now()
            record.rstime = record.rstime or model.now()
    return enter


def _leave_host(model: Model, vm: Vm):
    """Entering STOPPED/UNDEPLOYED/DONE after EPILOG: close the history record and free the host's share."""
    def enter() -> None:
        record = vm.last_history
        if record is not None and record.etime == 0:
            now = model.now()
            record.etime = record.retime = record.eetime = now
        model.del_capacity(vm)
        vm.deploy_id = ""
    return enter


def _mark(vm: Vm, action: HistoryAction) -> None:
    if vm.last_history is not None:
        vm.last_history.action = int(action)


# ---- one.vm.action ------------------------------------------------------------------------------------------------
def _not_available(vm: Vm) -> OnedError:
    return _DmError(f"This action is not available for state {state_str(vm.state, vm.lcm_state)}")


class _DmError(Exception):
    """A DispatchManager refusal (its rc -2 and error_str), wrapped by `vm_action` as oned does."""


def _terminate(model: Model, vm: Vm, hard: bool) -> None:
    """`DispatchManager::terminate`."""
    leave = _leave_host(model, vm)
    action = HistoryAction.TERMINATE_HARD if hard else HistoryAction.TERMINATE
    if vm.state in (VmState.SUSPENDED, VmState.POWEROFF, VmState.STOPPED, VmState.UNDEPLOYED):
        _mark(vm, action)
        model.run_steps(vm, [(VmState.ACTIVE, Lcm.EPILOG, None), (VmState.DONE, Lcm.LCM_INIT, leave)])
    elif vm.state in (VmState.INIT, VmState.PENDING, VmState.HOLD, VmState.CLONING, VmState.CLONING_FAILURE):
        model.cancel_steps(vm)
        model.set_state(vm, VmState.DONE, Lcm.LCM_INIT)
    elif vm.state == VmState.DONE:
        return
    elif vm.lcm_state in (Lcm.RUNNING, Lcm.UNKNOWN) or (vm.lcm_state == Lcm.SHUTDOWN and hard):
        _mark(vm, action)
        model.run_steps(vm, [(VmState.ACTIVE, Lcm.SHUTDOWN, None), (VmState.ACTIVE, Lcm.EPILOG, None),
                             (VmState.DONE, Lcm.LCM_INIT, leave)])
    elif vm.lcm_state in FAILURE_STATES:
        _mark(vm, HistoryAction.DELETE)
        model.cancel_steps(vm)
        leave()
        model.set_state(vm, VmState.DONE, Lcm.LCM_INIT)
    else:
        raise _DmError(f"Could not terminate VM {vm.id}, wrong state {state_str(vm.state, vm.lcm_state)}.")


def _undeploy(model: Model, vm: Vm, hard: bool) -> None:
    leave = _leave_host(model, vm)
    final = [(VmState.ACTIVE, Lcm.EPILOG_UNDEPLOY, None), (VmState.UNDEPLOYED, Lcm.LCM_INIT, leave)]
    if vm.state == VmState.POWEROFF:
        _mark(vm, HistoryAction.UNDEPLOY_HARD if hard else HistoryAction.UNDEPLOY)
        model.run_steps(vm, final)
    elif vm.state == VmState.ACTIVE and (vm.lcm_state in (Lcm.RUNNING, Lcm.UNKNOWN)
                                         or (hard and vm.lcm_state == Lcm.SHUTDOWN_UNDEPLOY)):
        _mark(vm, HistoryAction.UNDEPLOY_HARD if hard else HistoryAction.UNDEPLOY)
        model.run_steps(vm, [(VmState.ACTIVE, Lcm.SHUTDOWN_UNDEPLOY, None)] + final)
    else:
        raise _not_available(vm)


def _poweroff(model: Model, vm: Vm, hard: bool) -> None:
    if vm.state == VmState.ACTIVE and (vm.lcm_state in (Lcm.RUNNING, Lcm.UNKNOWN)
                                       or (hard and vm.lcm_state == Lcm.SHUTDOWN_POWEROFF)):
        _mark(vm, HistoryAction.POWEROFF_HARD if hard else HistoryAction.POWEROFF)
        model.run_steps(vm, [(VmState.ACTIVE, Lcm.SHUTDOWN_POWEROFF, None), (VmState.POWEROFF, Lcm.LCM_INIT, None)])
    else:
        raise _not_available(vm)


def _hold(model: Model, vm: Vm) -> None:
    if vm.state != VmState.PENDING:
        raise _not_available(vm)
    model.set_state(vm, VmState.HOLD)


def _release(model: Model, vm: Vm) -> None:
    if vm.state != VmState.HOLD:
        raise _not_available(vm)
    model.set_state(vm, VmState.PENDING)
    model.trigger_place(vm)


def _stop(model: Model, vm: Vm) -> None:
    leave = _leave_host(model, vm)
    if vm.state == VmState.SUSPENDED:
        _mark(vm, HistoryAction.STOP)
        model.run_steps(vm, [(VmState.ACTIVE, Lcm.EPILOG_STOP, None), (VmState.STOPPED, Lcm.LCM_INIT, leave)])
    elif vm.state == VmState.ACTIVE and vm.lcm_state == Lcm.RUNNING:
        _mark(vm, HistoryAction.STOP)
        model.run_steps(vm, [(VmState.ACTIVE, Lcm.SAVE_STOP, None), (VmState.ACTIVE, Lcm.EPILOG_STOP, None),
                             (VmState.STOPPED, Lcm.LCM_INIT, leave)])
    else:
        raise _not_available(vm)


def _suspend(model: Model, vm: Vm) -> None:
    if not (vm.state == VmState.ACTIVE and vm.lcm_state == Lcm.RUNNING):
        raise _not_available(vm)
    _mark(vm, HistoryAction.SUSPEND)
    # SUSPENDED keeps its HOST_SHARE (DispatchManager frees capacity only after an epilog).
    model.run_steps(vm, [(VmState.ACTIVE, Lcm.SAVE_SUSPEND, None), (VmState.SUSPENDED, Lcm.LCM_INIT, None)])


def _resume(model: Model, vm: Vm) -> None:
    if vm.state in (VmState.STOPPED, VmState.UNDEPLOYED):
        model.set_state(vm, VmState.PENDING)  # needs placement again
        model.trigger_place(vm)
    elif vm.state == VmState.SUSPENDED:
        _mark(vm, HistoryAction.RESUME)
        model.run_steps(vm, [(VmState.ACTIVE, Lcm.BOOT_SUSPENDED, None), (VmState.ACTIVE, Lcm.RUNNING, None)])
    elif vm.state == VmState.POWEROFF:
        _mark(vm, HistoryAction.RESUME)
        model.run_steps(vm, [(VmState.ACTIVE, Lcm.BOOT_POWEROFF, None), (VmState.ACTIVE, Lcm.RUNNING, None)])
    elif vm.state == VmState.ACTIVE and vm.lcm_state == Lcm.UNKNOWN:
        _mark(vm, HistoryAction.RESUME)
        model.run_steps(vm, [(VmState.ACTIVE, Lcm.BOOT_UNKNOWN, None), (VmState.ACTIVE, Lcm.RUNNING, None)])
    else:
        raise _not_available(vm)


def _reboot(model: Model, vm: Vm, hard: bool) -> None:
    if not (vm.state == VmState.ACTIVE and vm.lcm_state == Lcm.RUNNING):
        raise _not_available(vm)
    _mark(vm, HistoryAction.REBOOT_HARD if hard else HistoryAction.REBOOT)
    vm.resched = 0  # rebooting cancels re-scheduling
    model.vm_changed(vm)


def _resched(model: Model, vm: Vm, flag: bool) -> None:
    if not (vm.state == VmState.POWEROFF
            or (vm.state == VmState.ACTIVE and vm.lcm_state in (Lcm.RUNNING, Lcm.UNKNOWN))):
        raise _not_available(vm)
    vm.resched = int(flag)
    model.vm_changed(vm)
    if flag:
        model.trigger_place(vm)


_ACTION_HANDLERS = {
    "terminate": lambda m, vm: _terminate(m, vm, False),
    "terminate-hard": lambda m, vm: _terminate(m, vm, True),
    "undeploy": lambda m, vm: _undeploy(m, vm, False),
    "undeploy-hard": lambda m, vm: _undeploy(m, vm, True),
    "poweroff": lambda m, vm: _poweroff(m, vm, False),
    "poweroff-hard": lambda m, vm: _poweroff(m, vm, True),
    "reboot": lambda m, vm: _reboot(m, vm, False),
    "reboot-hard": lambda m, vm: _reboot(m, vm, True),
    "hold": _hold,
    "release": _release,
    "stop": _stop,
    "suspend": _suspend,
    "resume": _resume,
    "resched": lambda m, vm: _resched(m, vm, True),
    "unresched": lambda m, vm: _resched(m, vm, False),
}
assert set(_ACTION_HANDLERS) == set(VM_ACTIONS)


def vm_action(model: Model, name: str, vid: int) -> int:
    """`VirtualMachineAction::request_execute`: VM lookup, then the DispatchManager call, with oned's messages."""
    with model.lock:
        vm = _vm(model, vid)
        handler = _ACTION_HANDLERS.get(name)
        if handler is None:
            raise action_error(f'Action "{name}" is not supported')
        try:
            handler(model, vm)
        except _DmError as exc:
            raise action_error(f'Error performing action "{name}": {exc}') from None
        return vid


# ---- migrate ------------------------------------------------------------------------------------------------------
def migrate(model: Model, vid: int, hid: int, live: bool, enforce: bool, ds_id: int, mtype: int) -> int:
    """`VirtualMachineMigrate`: live (MIGRATE) or cold (SAVE_MIGRATE -> PROLOG_MIGRATE -> BOOT) to another host."""
    with model.lock:
        vm = _vm(model, vid)
        host = model.hosts.get(hid)
        if host is None:
            raise no_such("HOST", hid)
        if not (vm.state in (VmState.POWEROFF, VmState.SUSPENDED)
                or (vm.state == VmState.ACTIVE and vm.lcm_state in (Lcm.RUNNING, Lcm.UNKNOWN))):
            raise action_error(f"Migrate action is not available for state {state_str(vm.state, vm.lcm_state)}")
        current = vm.last_history
        if current.hid == hid and (ds_id == -1 or ds_id == current.ds_id):
            raise action_error(f"VM is already running on host [{hid}] and datastore [{current.ds_id}]")
        if live and ds_id not in (-1, current.ds_id):
            raise action_error("Cannot live migrate host and datastore at the same time.")
        if enforce:
            why = host.fits(vm.cpu, vm.memory_kb)
            if why:
                raise action_error(f"virtual machine [{vid}] does not fit in host [{hid}]. {why}")
        ds_id = current.ds_id if ds_id == -1 else ds_id
        now = model.now()
        current.action = int(HistoryAction.LIVE_MIGRATE if live else HistoryAction.MIGRATE)
        current.etime = now
        new = History(seq=len(vm.history), hid=hid, hostname=host.name, ds_id=ds_id,
                      tm_mad=model.datastores[ds_id].tm_mad, stime=now, cid=host.cluster_id, vm_mad=host.vm_mad)
        vm.history.append(new)

        def move() -> None:
            model.del_capacity(vm)
            model.add_capacity(vm, host)

        if live and vm.state == VmState.ACTIVE and vm.lcm_state == Lcm.RUNNING:
            steps = [(VmState.ACTIVE, Lcm.MIGRATE, None), (VmState.ACTIVE, Lcm.RUNNING, move)]
        elif vm.state == VmState.POWEROFF:
            steps = [(VmState.ACTIVE, Lcm.PROLOG_MIGRATE_POWEROFF, move), (VmState.POWEROFF, Lcm.LCM_INIT, None)]
        elif vm.state == VmState.SUSPENDED:
            steps = [(VmState.ACTIVE, Lcm.PROLOG_MIGRATE_SUSPEND, move), (VmState.SUSPENDED, Lcm.LCM_INIT, None)]
        elif vm.lcm_state == Lcm.UNKNOWN:
            steps = [(VmState.ACTIVE, Lcm.PROLOG_MIGRATE_UNKNOWN, move), (VmState.ACTIVE, Lcm.BOOT, None),
                     (VmState.ACTIVE, Lcm.RUNNING, None)]
        else:
            steps = [(VmState.ACTIVE, Lcm.SAVE_MIGRATE, None), (VmState.ACTIVE, Lcm.PROLOG_MIGRATE, move),
                     (VmState.ACTIVE, Lcm.BOOT, None), (VmState.ACTIVE, Lcm.RUNNING, None)]
        model.run_steps(vm, steps)
        return vid


# ---- update / recover ---------------------------------------------------------------------------------------------
def update(model: Model, vid: int, text: str, update_type: int) -> int:
    """`VirtualMachineAPI::update`: USER_TEMPLATE replaced (0) or merged (1)."""
    with model.lock:
        if update_type not in (0, 1):
            raise OnedError(ErrorCode.RPC_API, "Wrong update type")
        vm = _vm(model, vid)
        try:
            new = parse_template(text)
        except TemplateSyntaxError as exc:
            raise action_error(str(exc)) from None
        if update_type == 1:
            merged = vm.user_template.copy()
            merged.merge(new)
            new = merged
        vm.user_template = new
        model.vm_changed(vm)
        return vid


RECOVER_OPS = {0: "failure", 1: "success", 2: "retry", 3: "delete", 4: "delete-recreate", 5: "delete-db"}


def recover(model: Model, vid: int, op: int) -> int:
    """`one.vm.recover` for the failure states the double produces: retry a failed boot, or delete the VM."""
    with model.lock:
        vm = _vm(model, vid)
        if op not in RECOVER_OPS:
            raise OnedError(ErrorCode.RPC_API, f"Invalid recover operation {op}")
        if op == 3:
            model.cancel_steps(vm)
            _leave_host(model, vm)()
            model.set_state(vm, VmState.DONE, Lcm.LCM_INIT)
            return vid
        if vm.state != VmState.ACTIVE:
            raise action_error(f"Could not perform a recover operation on VM {vid}, wrong state "
                               f"{state_str(vm.state, vm.lcm_state)}.")
        if op == 2 and vm.lcm_state in (Lcm.BOOT_FAILURE, Lcm.PROLOG_FAILURE):
            # retry runs the failed driver action again on the same host: a host still broken fails it again
            failure, message = _next_fault(model, vm.last_history.hid)
            if failure is None:
                model.run_steps(vm, [(VmState.ACTIVE, Lcm.BOOT, _set_deploy_id(vm)),
                                     (VmState.ACTIVE, Lcm.RUNNING, _running_since(model, vm))])
            else:
                again = vm.lcm_state
                kind = "TRANSFER" if again == Lcm.PROLOG_FAILURE else "DEPLOY"
                model.run_steps(vm, [(VmState.ACTIVE, Lcm.PROLOG if again == Lcm.PROLOG_FAILURE else Lcm.BOOT,
                                      None), (VmState.ACTIVE, again, _driver_error(model, vm, kind, message))])
        elif op == 1 and vm.lcm_state in (Lcm.BOOT_FAILURE, Lcm.PROLOG_FAILURE, Lcm.BOOT, Lcm.PROLOG):
            model.cancel_steps(vm)
            _set_deploy_id(vm)()
            model.set_state(vm, VmState.ACTIVE, Lcm.RUNNING)
        else:
            raise action_error(f"Recover operation {RECOVER_OPS[op]} is not available for state "
                               f"{state_str(vm.state, vm.lcm_state)}")
        return vid


# ---- hosts --------------------------------------------------------------------------------------------------------
def host_error(model: Model, hid: int) -> None:
    """A host whose monitoring fails: ERROR, and its running VMs go UNKNOWN (oned's host error handling)."""
    with model.lock:
        host = model.hosts[hid]
        model.set_host_state(host, HostState.ERROR)
        for vid in list(host.vm_ids):
            vm = model.vms[vid]
            if vm.state == VmState.ACTIVE and vm.lcm_state == Lcm.RUNNING:
                model.cancel_steps(vm)
                model.set_state(vm, VmState.ACTIVE, Lcm.UNKNOWN)


def host_recovered(model: Model, hid: int) -> None:
    """The host answers monitoring again: MONITORED, and the VMs it reports running leave UNKNOWN for RUNNING."""
    with model.lock:
        host = model.hosts[hid]
        model.set_host_state(host, HostState.MONITORED)
        for vid in list(host.vm_ids):
            vm = model.vms[vid]
            if vm.state == VmState.ACTIVE and vm.lcm_state == Lcm.UNKNOWN:
                model.set_state(vm, VmState.ACTIVE, Lcm.RUNNING)
