"""The OpenNebula enactment driver over a scripted client: the call for each operation, idempotency, failures.

End-to-end runs through oned's test double are in test_one_e2e.py; these pin the mapping itself.
"""
from __future__ import annotations

import threading
import time

from types import SimpleNamespace

import pytest

from galerna.enact.driver import HypervisorError, OperationKind, OperationTimeout, VMSpec, VMState, migrate
from galerna.opennebula.client import ACTION, NO_EXISTS, OneCallError
from galerna.config.opennebula import OpenNebulaConfig, PreemptBy
from galerna.opennebula.directory import Directory
from galerna.opennebula.driver import OpenNebulaHostDriver, keep_state
from galerna.opennebula.objects import LCMState as L, OneVM, VMState as S


class ScriptedClient:
    """oned reduced to one dict of VMs; each action jumps straight to its end state unless told otherwise."""

    def __init__(self):
        self.pool: dict[int, OneVM] = {}
        self.calls: list[tuple] = []
        self.boot_failures = 0
        self.ignore: set[str] = set()  # actions accepted but never completed
        self.lock = threading.Lock()
        self.host_state: dict[int, int] = {}
        self.refuse_retry = False

    def add(self, vm_id, state=S.PENDING, lcm=0, host=None):
        self.pool[vm_id] = OneVM(vm_id, f"vm{vm_id}", 0, int(state), int(lcm), 1.0, template={"MEMORY": "512",
                                                                                                "CPU": "1"},
                                host_id=host)

    def _set(self, vm_id, state, lcm=0, host="same"):
        v = self.pool[vm_id]
        self.pool[vm_id] = OneVM(v.id, v.name, v.uid, int(state), int(lcm), v.stime, v.template, v.user_template,
                                v.host_id if host == "same" else host)

    def vms(self, attempts=None):
        return list(self.pool.values())

    def vm(self, vm_id, attempts=None):
        if vm_id not in self.pool:
            raise OneCallError("vm.info", f"[one.vm.info] Error getting virtual machine [{vm_id}].", code=NO_EXISTS,
                               transient=False)
        return self.pool[vm_id]

    def deploy(self, vm_id, host_id, ds_id=-1, *, enforce=True):
        self.calls.append(("deploy", vm_id, host_id, ds_id, enforce))
        v = self.pool[vm_id]
        if v.state not in (S.PENDING, S.HOLD, S.STOPPED, S.UNDEPLOYED):
            raise OneCallError("vm.deploy", "Deploy action is not available for state", code=ACTION, transient=False)
        if self.boot_failures:
            self.boot_failures -= 1
            self._set(vm_id, S.ACTIVE, L.BOOT_FAILURE, host_id)
        else:
            self._set(vm_id, S.ACTIVE, L.RUNNING, host_id)

    def action(self, name, vm_id):
        self.calls.append((name, vm_id))
        if name in self.ignore:
            return
        if name == "terminate-hard" and self.pool[vm_id].lcm_state in (L.BOOT, L.PROLOG):
            raise OneCallError("vm.action", f"Could not terminate VM {vm_id}, wrong state BOOT.", code=ACTION,
                               transient=False)  # as oned answers (DispatchManager::terminate)
        end = {"terminate": (S.DONE, 0), "terminate-hard": (S.DONE, 0), "stop": (S.STOPPED, 0),
               "undeploy": (S.UNDEPLOYED, 0), "undeploy-hard": (S.UNDEPLOYED, 0), "resume": (S.ACTIVE, L.RUNNING),
               "suspend": (S.SUSPENDED, 0), "reboot": (S.ACTIVE, L.RUNNING)}[name]
        self._set(vm_id, *end)

    def migrate(self, vm_id, host_id, *, live, ds_id=-1, enforce=True, kind=0):
        self.calls.append(("migrate", vm_id, host_id, live))
        self._set(vm_id, S.ACTIVE, L.RUNNING, host_id)

    def update(self, vm_id, text, *, merge=True):
        """one.vm.update, type 1 (merge) of one ``KEY = "value"`` line, as the driver's deployment stamp writes."""
        self.calls.append(("update", vm_id, text, merge))
        key, value = (x.strip().strip('"') for x in text.split("=", 1))
        v = self.pool[vm_id]
        self.pool[vm_id] = OneVM(v.id, v.name, v.uid, v.state, v.lcm_state, v.stime, v.template,
                                 {**v.user_template, key: value}, v.host_id)

    def call(self, method, *params, attempts=None, vm=None):
        if method == "host.info":
            return SimpleNamespace(ID=params[0], NAME=f"node{params[0]}", STATE=self.host_state.get(params[0], 2),
                                   CLUSTER_ID=0, HOST_SHARE=SimpleNamespace(MAX_CPU=400, MAX_MEM=8388608,
                                                                            CPU_USAGE=0, MEM_USAGE=0))
        self.calls.append((method, *params))
        if method == "vm.recover":
            if params[1] == 2 and self.refuse_retry:
                raise OneCallError("vm.recover", "not available", code=ACTION, transient=False)
            if params[1] == 2:
                self._set(params[0], S.ACTIVE, L.RUNNING)
            elif params[1] == 3:  # delete
                self._set(params[0], S.DONE, 0)
            else:
                self._set(params[0], S.PENDING, 0, None)
            return params[0]
        raise AssertionError(method)


@pytest.fixture
def world():
    client = ScriptedClient()
    d = Directory()
    cfg = OpenNebulaConfig(action_poll=0.01, terminate_timeout=0.1, system_datastore=100)
    h0 = OpenNebulaHostDriver(client, 0, d, cfg, wait_timeout=0.5)
    h1 = OpenNebulaHostDriver(client, 1, d, cfg, wait_timeout=0.5)
    client.add(7)
    d.add_lease("one-7", [7])
    return client, d, h0, h1


def spec(name="galerna-one-7-0"):
    return VMSpec(name=name, lease_id="one-7", index=0)


def test_deploy_enforces_capacity_on_the_planned_host_and_datastore(world):
    client, d, h0, h1 = world
    info = h0.deploy(spec())
    assert info.state is VMState.RUNNING and info.host == "opennebula:0" and info.uuid == "7"
    assert client.calls == [("deploy", 7, 0, 100, True)]
    assert h1.inspect("galerna-one-7-0").state is VMState.ABSENT  # it is not on host 1


def test_deploy_again_is_idempotent(world):
    client, d, h0, h1 = world
    h0.deploy(spec())
    h0.deploy(spec())
    assert [c for c in client.calls if c[0] == "deploy"] == [("deploy", 7, 0, 100, True)]
    with pytest.raises(HypervisorError, match="on host 0"):
        h1.deploy(spec())  # running elsewhere: refused, not moved


def test_boot_failure_is_retried_by_oned_and_raised_transient(world):
    client, d, h0, h1 = world
    client.boot_failures = 1
    with pytest.raises(HypervisorError) as e:
        h0.deploy(spec())
    assert e.value.transient and "BOOT_FAILURE" in str(e.value)
    assert ("vm.recover", 7, 2) in client.calls  # oned retries the boot
    assert h0.deploy(spec()).state is VMState.RUNNING  # the executor's retry finds it running
    assert [c for c in client.calls if c[0] == "deploy"] == [("deploy", 7, 0, 100, True)]


def test_boot_failure_goes_back_to_pending_when_retry_is_refused(world):
    client, d, h0, h1 = world
    client.boot_failures = 1
    client.refuse_retry = True
    with pytest.raises(HypervisorError):
        h0.deploy(spec())
    assert ("vm.recover", 7, 4) in client.calls and client.pool[7].state == S.PENDING
    assert h1.deploy(spec()).state is VMState.RUNNING  # and can go elsewhere


@pytest.mark.parametrize("mode, call, state", [(PreemptBy.STOP, "stop", S.STOPPED),
                                               (PreemptBy.UNDEPLOY, "undeploy", S.UNDEPLOYED)])
def test_suspend_frees_the_host(world, mode, call, state):
    client, d, h0, h1 = world
    h0.config = h0.config.model_copy(update={"preempt": mode})
    h0.deploy(spec())
    info = h0.suspend("galerna-one-7-0")
    assert info.state is VMState.SUSPENDED and info.state_file
    assert client.calls[-1] == (call, 7) and client.pool[7].state == state
    assert h0.inspect("galerna-one-7-0").state is VMState.SUSPENDED


def test_resume_deploys_on_the_planned_host_even_another_one(world):
    client, d, h0, h1 = world
    h0.deploy(spec())
    h0.suspend("galerna-one-7-0")
    info = h1.resume("galerna-one-7-0")  # cold migration: deploy of the STOPPED VM on host 1
    assert info.state is VMState.RUNNING and client.pool[7].host_id == 1
    assert client.calls[-1] == ("deploy", 7, 1, 100, True)


def test_live_and_cold_migration_through_enact_migrate(world):
    client, d, h0, h1 = world
    h0.deploy(spec())
    info = migrate(h0, h1, "galerna-one-7-0", live=True, mover=keep_state)
    assert info.host == "opennebula:1" and client.calls[-1] == ("migrate", 7, 1, True)
    h1.live_migration = False  # [enactment] live_migration = false in OpenNebula mode
    info = migrate(h1, h0, "galerna-one-7-0", live=True, mover=keep_state)
    assert info.state is VMState.RUNNING and client.pool[7].host_id == 0
    assert client.calls[-1] == ("migrate", 7, 0, False)  # oned's own cold migration
    info = migrate(h0, h1, "galerna-one-7-0", live=False, mover=keep_state)  # Galerna's cold path
    assert info.state is VMState.RUNNING and client.pool[7].host_id == 1
    assert client.calls[-2:] == [("stop", 7), ("deploy", 7, 1, 100, True)]


def test_shutdown_terminates_then_terminate_hard_after_the_timeout(world):
    client, d, h0, h1 = world
    h0.deploy(spec())
    client.ignore = {"terminate"}  # the guest never powers off
    info = h0.shutdown("galerna-one-7-0")
    assert info.state is VMState.ABSENT and client.pool[7].state == S.DONE
    assert [c for c in client.calls if c[0].startswith("terminate")] == [("terminate", 7), ("terminate-hard", 7)]


def test_destroy_of_a_live_lease_only_frees_the_host(world):
    client, d, h0, h1 = world
    h0.deploy(spec())
    assert h0.destroy("galerna-one-7-0").state is VMState.ABSENT
    assert client.calls[-1] == ("undeploy-hard", 7) and client.pool[7].state == S.UNDEPLOYED
    h1.deploy(spec())  # requeued and redeployed later, elsewhere
    assert client.pool[7].host_id == 1


def test_destroy_of_an_ended_lease_terminates(world):
    client, d, h0, h1 = world
    h0.deploy(spec())
    d.end_lease("one-7")
    h0.destroy("galerna-one-7-0")
    assert client.calls[-1] == ("terminate-hard", 7) and client.pool[7].state == S.DONE


def test_destroy_of_an_ended_lease_still_booting_after_a_retry_deletes_it(world):
    """A deploy that failed for good leaves the recover-retry of its last failure booting the VM; oned refuses
    terminate-hard in BOOT, so the failed lease's VM is deleted by recover instead of being left to boot."""
    client, d, h0, h1 = world
    client.add(7, S.ACTIVE, L.BOOT, host=0)
    d.end_lease("one-7")
    assert h0.destroy("galerna-one-7-0").state is VMState.ABSENT
    assert client.calls[-2:] == [("terminate-hard", 7), ("vm.recover", 7, 3)] and client.pool[7].state == S.DONE


def test_an_action_that_never_completes_times_out(world):
    client, d, h0, h1 = world
    h0.deploy(spec())
    client.ignore = {"stop"}
    with pytest.raises(OperationTimeout):
        h0.suspend("galerna-one-7-0")


def test_state_mapping_and_listing(world):
    client, d, h0, h1 = world
    client.add(8, S.ACTIVE, L.RUNNING, host=0)  # not Galerna's
    client.add(9, S.ACTIVE, L.UNKNOWN, host=0)
    d.add_lease("one-9", [9])
    client.add(10, S.POWEROFF, 0, host=0)
    d.add_lease("one-10", [10])
    client.add(11, S.ACTIVE, L.PROLOG_FAILURE, host=0)
    d.add_lease("one-11", [11])
    got = {i.name: (i.state, i.managed) for i in h0.list()}
    assert got == {"opennebula-vm-8": (VMState.RUNNING, False), "galerna-one-9-0": (VMState.CRASHED, True),
                   "galerna-one-10-0": (VMState.SHUTOFF, True), "galerna-one-11-0": (VMState.CRASHED, True)}
    assert h0.inspect("galerna-nobody-0").state is VMState.ABSENT


def test_unknown_vm_name_is_a_clear_permanent_error(world):
    client, d, h0, h1 = world
    with pytest.raises(HypervisorError) as e:
        h0.deploy(VMSpec(name="galerna-x-0"))
    assert not e.value.transient and "no OpenNebula VM is known for galerna-x-0" in str(e.value)


def test_event_wakes_a_waiting_operation_early(world):
    client, d, h0, h1 = world
    h0.config = h0.config.model_copy(update={"action_poll": 5.0})
    h0.wait_timeout = 5.0
    h0.deploy(spec())
    client.ignore = {"stop"}

    def later():
        client._set(7, S.STOPPED, 0)
        d.changed()

    threading.Timer(0.1, later).start()
    t0 = time.monotonic()
    h0.suspend("galerna-one-7-0")
    assert time.monotonic() - t0 < 2.0


def test_a_host_oned_does_not_monitor_looks_lost_to_the_monitor(world):
    client, d, h0, h1 = world
    client.host_state[0] = 3  # ERROR
    with pytest.raises(HypervisorError) as e:
        h0.list()
    assert e.value.connection_lost and "ERROR" in str(e.value)
    assert not h0.alive() and h1.alive()


def test_unknown_vm_is_booted_in_place_or_moved_cold(world):
    client, d, h0, h1 = world
    client.add(8, S.ACTIVE, L.UNKNOWN, host=0)
    d.add_lease("one-8", [8])
    h0.deploy(VMSpec(name="galerna-one-8-0"))  # restart in place
    assert client.calls[-1] == ("resume", 8)
    client._set(8, S.ACTIVE, L.UNKNOWN, 0)
    h1.deploy(VMSpec(name="galerna-one-8-0"))  # recovery chose another host
    assert client.calls[-1] == ("migrate", 8, 1, False) and client.pool[8].host_id == 1


def test_directory_resolves_leases_it_was_not_told_about():
    asked = []
    d = Directory(resolver=lambda lid: asked.append(lid) or ([4, 5] if lid == "12" else None))
    assert d.by_name("galerna-12-1").vm_id == 5 and d.by_name("galerna-12-0").vm_id == 4
    assert d.by_name("galerna-13-0") is None and d.by_name("other-1") is None
    assert asked == ["12", "13"]


def test_deploy_stamps_the_deployment_id_in_the_user_template(world):
    client, _, h0, _ = world
    stamped = VMSpec(name="galerna-one-7-0", lease_id="one-7", index=0, deployment="d" * 32)
    info = h0.deploy(stamped)
    assert ("update", 7, f'GALERNA_DEPLOYMENT = "{"d" * 32}"', True) in client.calls
    assert client.calls.index(("update", 7, f'GALERNA_DEPLOYMENT = "{"d" * 32}"', True)) < \
        [c[0] for c in client.calls].index("deploy")  # stamped before it runs
    assert info.deployment == "d" * 32 and h0.inspect("galerna-one-7-0").deployment == "d" * 32
