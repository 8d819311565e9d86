"""oned's Plan Manager: parse a PLAN (placement, or a cluster's optimization) and execute it by OpenNebula's rules.

Follows `src/schedm/Plan.cc` and `src/schedm/PlanManager.cc`: every ACTION needs VM_ID, OPERATION, HOST_ID and
DS_ID or the whole plan is dropped; one placement plan APPLYING at a time; actions start in list order and the loop
*breaks* at the first one whose host already has MAX_ACTIONS_PER_HOST applying actions; `deploy` enforces capacity,
`migrate` uses LIVE_RESCHEDS/COLD_MIGRATE_MODE, any other name is `one.vm.action`. An action completes only on
the drivers' callbacks (deploy/shutdown/suspend/poweroff success, deploy/prolog failure); the rest time out after
ACTION_TIMEOUT. The next actions start on the next timer tick (MANAGER_TIMER). An optimization plan (PLAN/ID = the
cluster id) is APPLYING only when the cluster's DRS automation is `full`; otherwise it waits READY for
`one.cluster.planexecute` (here `start_plan`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Callable
from xml.etree import ElementTree as ET

from . import actions
from .errors import OnedError
from .model import Model, Vm
from .states import FAILURE_STATES, Lcm, VmState


class PlanState(IntEnum):
    """`include/Plan.h`."""

    NONE = -1
    READY = 0
    APPLYING = 1
    DONE = 2
    ERROR = 3
    TIMEOUT = 4


@dataclass
class PlanAction:
    id: int
    vm_id: int
    operation: str
    host_id: int
    ds_id: int
    nics: list[tuple[int, int]] = field(default_factory=list)
    state: PlanState = PlanState.READY
    timestamp: float = 0.0
    error: str = ""


@dataclass
class Plan:
    cid: int
    actions: list[PlanAction]
    state: PlanState = PlanState.APPLYING

    def check_completed(self) -> None:
        """`Plan::check_completed`: DONE, or ERROR/TIMEOUT if any action ended so, once none is READY/APPLYING."""
        if any(a.state in (PlanState.READY, PlanState.APPLYING) for a in self.actions):
            return
        states = {a.state for a in self.actions}
        self.state = (PlanState.ERROR if PlanState.ERROR in states
                      else PlanState.TIMEOUT if PlanState.TIMEOUT in states else PlanState.DONE)


class PlanError(ValueError):
    """A PLAN document oned would drop (its log line is the message)."""


def parse_plan(xml: str) -> Plan:
    """`Plan::from_xml` + `PlanAction::from_xml_node`."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        raise PlanError("Error parsing plan XML:" + xml) from None
    try:
        cid = int(root.findtext("ID", "-1"))
    except ValueError:
        raise PlanError("Error parsing plan XML:" + xml) from None
    plan_actions = []
    for index, node in enumerate(root.findall("ACTION")):
        fields = {name: node.findtext(name) for name in ("ID", "VM_ID", "OPERATION", "HOST_ID", "DS_ID")}
        try:
            action = PlanAction(id=int(fields["ID"]) if fields["ID"] is not None else index,
                                vm_id=int(fields["VM_ID"]), operation=str(fields["OPERATION"]).strip(),
                                host_id=int(fields["HOST_ID"]), ds_id=int(fields["DS_ID"]))
        except (TypeError, ValueError):
            raise PlanError("Unable to create PlanAction from xml") from None
        if fields["OPERATION"] is None:
            raise PlanError("Unable to create PlanAction from xml")
        for nic in node.findall("NIC"):
            action.nics.append((int(nic.findtext("NIC_ID", "-1")), int(nic.findtext("NETWORK_ID", "-1"))))
        plan_actions.append(action)
    return Plan(cid, plan_actions)


class PlanManager:
    """The placement plan (id -1), one plan per cluster, and their execution against the model."""

    def __init__(self, model: Model, max_actions_per_host: int = 1, max_actions_per_cluster: int = 30,
                 action_timeout: float = 300, live_rescheds: bool = False, cold_migrate_mode: int = 0):
        self.model = model
        self.max_actions_per_host = max_actions_per_host
        self.max_actions_per_cluster = max_actions_per_cluster
        self.action_timeout = action_timeout
        self.live_rescheds = live_rescheds
        self.cold_migrate_mode = cold_migrate_mode
        self.plans: dict[int, Plan] = {}  # plan id (-1 placement, else cluster id) -> its current plan
        self.history: list[Plan] = []  # every accepted plan, in order
        self.automation: dict[int, str] = {}  # cluster id -> ONE_DRS/AUTOMATION (manual when missing)
        self.log: list[str] = []  # what oned's PLM would log
        self.on_placement_finished: Callable[[], None] | None = None
        model.vm_listeners.append(self._on_vm_change)

    @property
    def placement(self) -> Plan | None:
        return self.plans.get(-1)

    # ---- adding -----------------------------------------------------------------------------------------------
    def add_plan(self, xml: str) -> Plan | None:
        """`PlanManager::add_plan`: None when oned would drop the plan (see `log`)."""
        with self.model.lock:
            try:
                plan = parse_plan(xml)
            except PlanError as exc:
                self.log.append(str(exc))
                return None
            if not plan.actions:
                self.log.append("Plan has no actions, skipping...")
                return None
            current = self.plans.get(plan.cid)
            if plan.cid == -1:
                if current is not None and current.state == PlanState.APPLYING:
                    self.log.append("Cannot add plan. A placement plan is already in progress.")
                    return None
            elif plan.cid in self.model.clusters:
                if current is not None and current.state == PlanState.APPLYING:
                    self.log.append("Cannot add cluster optimization plan. A plan is already in progress.")
                    return None
                if self.automation.get(plan.cid, "manual") != "full":
                    plan.state = PlanState.READY
            else:
                self.log.append(f"Optimization plan for non-existent cluster {plan.cid}")
                return None
            self.plans[plan.cid] = plan
            self.history.append(plan)
            for action in plan.actions:  # clear previous scheduling messages
                vm = self.model.vms.get(action.vm_id)
                if vm is not None and vm.user_template.get("SCHED_MESSAGE"):
                    vm.user_template.set("SCHED_MESSAGE", "")
                    self.model.vm_changed(vm)
            self.execute()
            return plan

    def start_plan(self, cid: int) -> None:
        """`PlanManager::start_plan` (one.cluster.planexecute): a READY plan starts applying."""
        with self.model.lock:
            plan = self.plans.get(cid)
            if plan is None:
                raise PlanError("Plan not found")
            if plan.state != PlanState.READY:
                raise PlanError(f"Plan is {plan.state.name.lower()}")
            plan.state = PlanState.APPLYING
            self.execute()

    # ---- executing --------------------------------------------------------------------------------------------
    def execute(self) -> None:
        """`PlanManager::execute_plans`: every APPLYING plan (also what the MANAGER_TIMER tick runs)."""
        with self.model.lock:
            for plan in list(self.plans.values()):
                if plan.state == PlanState.APPLYING:
                    self._execute(plan)

    def _execute(self, plan: Plan) -> None:
        """`PlanManager::execute_plan`."""
        now = self.model.clock.now()
        for action in plan.actions:  # Plan::timeout_actions
            if action.state == PlanState.APPLYING and action.timestamp + self.action_timeout < now:
                action.state = PlanState.TIMEOUT
        host_actions: dict[int, int] = {}
        cluster_actions = 0
        for action in plan.actions:
            if action.state == PlanState.APPLYING:
                host_actions[action.host_id] = host_actions.get(action.host_id, 0) + 1
                cluster_actions += 1
        while True:
            action = next((a for a in plan.actions if a.state == PlanState.READY), None)
            if action is None:
                break
            if (host_actions.get(action.host_id, 0) >= self.max_actions_per_host
                    or cluster_actions >= self.max_actions_per_cluster):
                break
            if self._start(plan, action):
                host_actions[action.host_id] = host_actions.get(action.host_id, 0) + 1
                cluster_actions += 1
        self._check_completed(plan)

    def _start(self, plan: Plan, action: PlanAction) -> bool:
        """`PlanManager::start_action`, run as oneadmin."""
        action.timestamp = self.model.clock.now()
        name = action.operation
        try:
            if name == "deploy":
                nic = "".join(f'NIC=[NIC_ID="{nic_id}", NETWORK_MODE="auto" , NETWORK_ID="{net}"]'
                              for nic_id, net in action.nics)
                actions.deploy(self.model, action.vm_id, action.host_id, True, action.ds_id, nic,
                               plan_id=plan.cid, action_id=action.id)
            elif name == "migrate":
                actions.migrate(self.model, action.vm_id, action.host_id, self.live_rescheds, False, action.ds_id,
                                self.cold_migrate_mode)
            else:
                actions.vm_action(self.model, name, action.vm_id)
        except OnedError as exc:
            action.state = PlanState.ERROR
            action.error = exc.render(name)
            self.log.append(action.error)
            vm = self.model.vms.get(action.vm_id)
            if vm is not None:
                self.model.set_error_message(vm, action.error)
            return False
        vm = self.model.vms[action.vm_id]
        if vm.last_history is not None:
            vm.last_history.plan_id, vm.last_history.action_id = plan.cid, action.id
        action.state = PlanState.APPLYING
        return True

    def _check_completed(self, plan: Plan) -> None:
        before = plan.state
        plan.check_completed()
        if (plan.cid == -1 and before == PlanState.APPLYING and plan.state != PlanState.APPLYING
                and self.on_placement_finished):
            self.on_placement_finished()

    # ---- completion callbacks ---------------------------------------------------------------------------------
    def _on_vm_change(self, vm: Vm) -> None:
        """Map a VM transition to the driver callback oned would get, and finish the VM's applying action."""
        for plan in list(self.plans.values()):
            if plan.state != PlanState.APPLYING:
                continue
            action = next((a for a in plan.actions if a.vm_id == vm.id and a.state in (PlanState.APPLYING,
                                                                                        PlanState.TIMEOUT)), None)
            if action is None:
                continue
            result = _callback_result(vm)
            if result is None:
                return
            action.state = result
            self._check_completed(plan)
            return


_SHUTDOWNS = (Lcm.SHUTDOWN, Lcm.SHUTDOWN_POWEROFF, Lcm.SHUTDOWN_UNDEPLOY)


def _callback_result(vm: Vm) -> PlanState | None:
    """deploy_success (RUNNING), suspend_success, poweroff_success, shutdown_success -> DONE;
    deploy_failure / prolog_failure -> ERROR; any other transition -> no callback."""
    if vm.state == VmState.ACTIVE and vm.lcm_state == Lcm.RUNNING:
        return PlanState.DONE
    if vm.state == VmState.SUSPENDED and vm.prev_lcm_state == Lcm.SAVE_SUSPEND:
        return PlanState.DONE
    if vm.state == VmState.POWEROFF and vm.prev_lcm_state == Lcm.SHUTDOWN_POWEROFF:
        return PlanState.DONE
    if vm.prev_state == VmState.ACTIVE and vm.prev_lcm_state in _SHUTDOWNS and vm.lcm_state not in _SHUTDOWNS:
        return PlanState.DONE
    if vm.state == VmState.ACTIVE and vm.lcm_state in FAILURE_STATES:
        return PlanState.ERROR
    return None
