"""The oned test double itself: its documents validate against OpenNebula's XSDs, and pyone sees oned's behaviour."""
from __future__ import annotations

import base64
import xmlrpc.client

import pyone
import pytest
import zmq

from .oned_double import xsd
from .oned_double.double import OnedDouble
from .oned_double.errors import ErrorCode
from .oned_double.model import ApiCall, ManualClock
from .oned_double.states import HostState, Lcm, VmState

VM_TEMPLATE = ('NAME = "lease-1"\nCPU = 1\nVCPU = 2\nMEMORY = 1024\n'
               'HAIZEA = [ START = "best_effort", DURATION = "01:00:00", PREEMPTIBLE = "yes" ]\n')


@pytest.fixture
def one(oned):
    return pyone.OneServer(oned.url, session=oned.session)


@pytest.fixture
def raw(oned):
    """Plain xmlrpc.client, to see the exact strings and envelopes oned's face sends."""
    return xmlrpc.client.ServerProxy(oned.url)


def advance(double, seconds: float) -> None:
    double.clock.advance(seconds)
    double.model.tick()


def running_vm(oned, one, host_id=0, template=VM_TEMPLATE) -> int:
    vid = one.vm.allocate(template, False)
    one.vm.deploy(vid, host_id, True, 0)
    assert oned.wait_state(vid, VmState.ACTIVE, Lcm.RUNNING)
    return vid


# ---- documents validate against OpenNebula's XSDs -----------------------------------------------------------------
def test_every_served_document_validates(oned, one, raw):
    oned.add_host("node1", 4, 8192)
    oned.add_host("node2", 2, 4096)
    vid = running_vm(oned, one)
    one.vm.allocate('CPU = 0.5\nMEMORY = 512\nDISK = [ IMAGE_ID = "0" ]\nNIC = [ NETWORK_ID = "0" ]\n'
                    'SCHED_REQUIREMENTS = "ID = 1"\nLABELS = "a,b"', True)
    one.vm.action("suspend", vid)
    tid = one.template.allocate('NAME = "small"\nCPU = 0.5\nMEMORY = 128')
    s = oned.session
    served = {
        "opennebula_configuration.xsd": raw.one.system.config(s),
        "vmtemplate.xsd": raw.one.template.info(s, tid),
        "vm.xsd": raw.one.vm.info(s, vid),
        "vm_pool.xsd": raw.one.vmpool.info(s, -2, -1, -1, -2),
        "vm_pool_extended.xsd": raw.one.vmpool.infoextended(s, -2, -1, -1, -2),
        "host.xsd": raw.one.host.info(s, 0),
        "host_pool.xsd": raw.one.hostpool.info(s),
        "datastore.xsd": raw.one.datastore.info(s, 0),
        "datastore_pool.xsd": raw.one.datastorepool.info(s),
    }
    for schema, (ok, document, code) in served.items():
        assert ok and code == 0
        xsd.validate(document, schema)
    # A second VM is in the pools, so both pool documents carry more than one <VM>.
    assert served["vm_pool.xsd"][1].count("<VM>") == 2


def test_validation_catches_a_wrong_document():
    with pytest.raises(xsd.SchemaError, match="vm.xsd"):
        xsd.validate("<VM><ID>1</ID><NAME>x</NAME></VM>")


def test_short_pool_drops_custom_user_template_extended_keeps_it(oned, one):
    vid = one.vm.allocate(VM_TEMPLATE + 'SCHED_MESSAGE = "waiting"\n', False)
    short = one.vmpool.info(-2, -1, -1, -1).VM[0]
    extended = one.vmpool.infoextended(-2, -1, -1, -1).VM[0]
    assert short.ID == extended.ID == vid
    assert "HAIZEA" not in short.USER_TEMPLATE and short.USER_TEMPLATE["SCHED_MESSAGE"] == "waiting"
    assert extended.USER_TEMPLATE["HAIZEA"] == {"DURATION": "01:00:00", "PREEMPTIBLE": "yes",
                                                "START": "best_effort"}
    assert one.vm.info(vid).TEMPLATE["CPU"] == "1"


# ---- envelopes, errors --------------------------------------------------------------------------------------------
def test_error_envelope_and_pyone_exceptions(oned, one, raw):
    ok, message, code, resp_id, replication = raw.one.vm.info(oned.session, 99)
    assert (ok, message, code, resp_id, replication) == (
        False, "[one.vm.info] Error getting virtual machine [99].", ErrorCode.NO_EXISTS, 99, 0)
    with pytest.raises(pyone.OneNoExistsException, match=r"\[one.vm.info\] Error getting virtual machine \[99\]"):
        one.vm.info(99)
    with pytest.raises(pyone.OneAuthenticationException, match="User couldn't be authenticated, aborting call."):
        pyone.OneServer(oned.url, session="oneadmin:wrong").vm.info(0)


def test_wrong_parameter_types_are_faults(oned, raw):
    with pytest.raises(xmlrpc.client.Fault, match="supposed to be integer"):
        raw.one.vm.info(oned.session, "0")
    with pytest.raises(xmlrpc.client.Fault, match="supposed to be boolean"):
        raw.one.vm.deploy(oned.session, 0, 0, 1)
    with pytest.raises(xmlrpc.client.Fault, match="Unknown method"):
        raw.one.vm.shutdown(oned.session, 0)


def test_vmpool_filters(oned, one):
    first = one.vm.allocate(VM_TEMPLATE, False)
    second = one.vm.allocate(VM_TEMPLATE, True)
    one.vm.action("terminate", first)  # PENDING -> DONE at once
    assert [vm.ID for vm in one.vmpool.info(-2, -1, -1, -2).VM] == [second, first]  # API_LIST_ORDER = DESC
    assert [vm.ID for vm in one.vmpool.info(-2, -1, -1, -1).VM] == [second]
    assert [vm.ID for vm in one.vmpool.info(-2, -1, -1, VmState.DONE).VM] == [first]
    assert [vm.ID for vm in one.vmpool.info(-2, second, second, -2).VM] == [second]
    with pytest.raises(pyone.OneApiException, match=r"Incorrect state filter 12"):
        one.vmpool.info(-2, -1, -1, 12)


def test_injected_call_failure(oned, one):
    oned.fail_next_call("one.vm.deploy", ErrorCode.INTERNAL, "Internal error")
    oned.add_host("node1")
    vid = one.vm.allocate(VM_TEMPLATE, False)
    with pytest.raises(pyone.OneInternalException, match=r"\[one.vm.deploy\] Internal error"):
        one.vm.deploy(vid, 0, False, -1)
    assert one.vm.deploy(vid, 0, False, -1) == vid  # only the next call fails


# ---- allocate, deploy, capacity -----------------------------------------------------------------------------------
def test_allocate_checks_cpu_and_memory(one):
    with pytest.raises(pyone.OneException, match="MEMORY attribute must be a positive integer value"):
        one.vm.allocate("CPU = 1", False)
    with pytest.raises(pyone.OneInternalException, match="Parse error"):
        one.vm.allocate('CPU = 1\nMEMORY = 512\nBAD = [ A = "x"', False)


def test_allocate_from_a_pyone_dict_and_template_instantiate(oned, one):
    vid = one.vm.allocate({"TEMPLATE": {"CPU": "1", "MEMORY": "256", "HAIZEA": {"START": "now"}}}, False)
    assert one.vm.info(vid).USER_TEMPLATE["HAIZEA"]["START"] == "now"
    tid = one.template.allocate('NAME = "small"\nCPU = 0.5\nMEMORY = 128')
    vid2 = one.template.instantiate(tid, "from-template", True, 'HAIZEA = [ DURATION = "00:10:00" ]', False)
    vm = one.vm.info(vid2)
    assert (vm.NAME, vm.STATE, vm.TEMPLATE["CPU"]) == ("from-template", VmState.HOLD, "0.5")
    assert vm.USER_TEMPLATE["HAIZEA"]["DURATION"] == "00:10:00"


def test_deploy_enforce_refuses_an_over_full_host(oned, one):
    oned.add_host("small", cpu_cores=1, memory_mb=2048)
    first = running_vm(oned, one, 0)
    second = one.vm.allocate(VM_TEMPLATE, False)
    with pytest.raises(pyone.OneActionException,
                       match=r"\[one.vm.deploy\] virtual machine \[1\] does not fit in host \[0\]. "
                             r"Not enough CPU: 100/0"):
        one.vm.deploy(second, 0, True, 0)
    assert one.vm.info(second).STATE == VmState.PENDING
    one.vm.deploy(second, 0, False, 0)  # without enforce oned overcommits
    host = one.host.info(0).HOST_SHARE
    assert (host.CPU_USAGE, host.MEM_USAGE, host.MAX_CPU, host.RUNNING_VMS) == (200, 2 * 1024 * 1024, 100, 2)
    assert first != second


def test_deploy_is_refused_outside_pending_hold_stopped_undeployed(oned, one):
    oned.add_host("node1")
    vid = running_vm(oned, one)
    with pytest.raises(pyone.OneActionException, match="Deploy action is not available for state RUNNING"):
        one.vm.deploy(vid, 0, False, -1)
    with pytest.raises(pyone.OneNoExistsException, match=r"Error getting host \[7\]"):
        one.vm.deploy(one.vm.allocate(VM_TEMPLATE, False), 7, False, -1)


def test_capacity_is_kept_by_suspended_and_poweroff_and_freed_by_stop_and_undeploy(oned, one):
    oned.add_host("node1", cpu_cores=4, memory_mb=8192)
    kept, freed = [], []
    for action, final in (("suspend", VmState.SUSPENDED), ("poweroff", VmState.POWEROFF)):
        vid = running_vm(oned, one)
        one.vm.action(action, vid)
        assert oned.wait_state(vid, final)
        kept.append(vid)
    for action, final in (("stop", VmState.STOPPED), ("undeploy", VmState.UNDEPLOYED)):
        vid = running_vm(oned, one)
        one.vm.action(action, vid)
        assert oned.wait_state(vid, final)
        freed.append(vid)
    share = one.host.info(0).HOST_SHARE
    assert (share.CPU_USAGE, share.MEM_USAGE, share.RUNNING_VMS) == (200, 2 * 1024 * 1024, 2)
    assert sorted(one.host.info(0).VMS.ID) == kept
    # A suspended VM's share still blocks an enforced deploy onto a full host.
    oned.add_host("tiny", cpu_cores=1, memory_mb=1024)
    blocker = running_vm(oned, one, 1)
    one.vm.action("suspend", blocker)
    assert oned.wait_state(blocker, VmState.SUSPENDED)
    with pytest.raises(pyone.OneActionException, match="does not fit in host"):
        one.vm.deploy(freed[0], 1, True, 0)
    # Terminating frees it.
    one.vm.action("terminate", blocker)
    assert oned.wait_state(blocker, VmState.DONE)
    assert one.host.info(1).HOST_SHARE.CPU_USAGE == 0
    one.vm.deploy(freed[0], 1, True, 0)


# ---- the action matrix and transient states -----------------------------------------------------------------------
def test_wrong_state_action_gets_onedens_error(oned, one):
    vid = one.vm.allocate(VM_TEMPLATE, False)
    with pytest.raises(pyone.OneActionException,
                       match=r'^\[one.vm.action\] Error performing action "suspend": '
                             r"This action is not available for state PENDING$"):
        one.vm.action("suspend", vid)
    for action in ("stop", "poweroff", "undeploy", "resume", "release", "reboot", "resched"):
        with pytest.raises(pyone.OneActionException, match=f'"{action}": This action is not available for state'):
            one.vm.action(action, vid)
    one.vm.action("hold", vid)
    assert one.vm.info(vid).STATE == VmState.HOLD
    one.vm.action("release", vid)
    assert one.vm.info(vid).STATE == VmState.PENDING


def test_terminate_refused_in_a_transient_state(manual_oned):
    manual_oned.add_host("node1")
    one = pyone.OneServer(manual_oned.url, session=manual_oned.session)
    vid = one.vm.allocate(VM_TEMPLATE, False)
    one.vm.deploy(vid, 0, False, -1)
    with pytest.raises(pyone.OneActionException,
                       match=r'Error performing action "terminate": Could not terminate VM 0, wrong state PROLOG.'):
        one.vm.action("terminate", vid)


def test_transient_states_advance_after_their_delays(manual_oned):
    manual_oned.add_host("node1")
    manual_oned.set_delays(PROLOG=30.0, BOOT=5.0, SAVE_SUSPEND=7.0, BOOT_SUSPENDED=3.0)
    one = pyone.OneServer(manual_oned.url, session=manual_oned.session)
    vid = one.vm.allocate(VM_TEMPLATE, False)
    one.vm.deploy(vid, 0, True, 0)

    def lcm():
        vm = one.vm.info(vid)
        return VmState(vm.STATE), Lcm(vm.LCM_STATE)

    assert lcm() == (VmState.ACTIVE, Lcm.PROLOG)
    advance(manual_oned, 29.0)
    assert lcm() == (VmState.ACTIVE, Lcm.PROLOG)
    advance(manual_oned, 1.0)
    assert lcm() == (VmState.ACTIVE, Lcm.BOOT)
    advance(manual_oned, 5.0)
    assert lcm() == (VmState.ACTIVE, Lcm.RUNNING)
    assert one.vm.info(vid).DEPLOY_ID == f"one-{vid}"
    one.vm.action("suspend", vid)
    assert lcm() == (VmState.ACTIVE, Lcm.SAVE_SUSPEND)
    advance(manual_oned, 7.0)
    assert lcm() == (VmState.SUSPENDED, Lcm.LCM_INIT)
    one.vm.action("resume", vid)
    assert lcm() == (VmState.ACTIVE, Lcm.BOOT_SUSPENDED)
    advance(manual_oned, 3.0)
    assert lcm() == (VmState.ACTIVE, Lcm.RUNNING)
    vm = one.vm.info(vid)
    assert (vm.PREV_STATE, vm.PREV_LCM_STATE) == (VmState.ACTIVE, Lcm.BOOT_SUSPENDED)


def test_stop_then_resume_goes_back_to_pending(oned, one):
    oned.add_host("node1")
    oned.add_host("node2")
    vid = running_vm(oned, one)
    one.vm.action("stop", vid)
    assert oned.wait_state(vid, VmState.STOPPED)
    one.vm.action("resume", vid)
    assert one.vm.info(vid).STATE == VmState.PENDING
    one.vm.deploy(vid, 1, True, 0)
    assert oned.wait_state(vid, VmState.ACTIVE, Lcm.RUNNING)
    history = one.vm.info(vid).HISTORY_RECORDS.HISTORY
    assert [h.HID for h in history] == [0, 1]
    assert history[0].ETIME > 0 and history[1].ETIME == 0


def test_migrate_live_and_cold(oned, one):
    oned.add_host("node1")
    oned.add_host("node2")
    vid = running_vm(oned, one)
    one.vm.migrate(vid, 1, True, True, -1, 0)
    assert oned.wait_state(vid, VmState.ACTIVE, Lcm.RUNNING)
    assert one.vm.info(vid).HISTORY_RECORDS.HISTORY[-1].HID == 1
    assert (one.host.info(0).HOST_SHARE.CPU_USAGE, one.host.info(1).HOST_SHARE.CPU_USAGE) == (0, 100)
    with pytest.raises(pyone.OneActionException, match=r"VM is already running on host \[1\] and datastore \[0\]"):
        one.vm.migrate(vid, 1, False, False, -1, 0)
    one.vm.migrate(vid, 0, False, True, -1, 0)
    assert oned.wait_state(vid, VmState.ACTIVE, Lcm.RUNNING)
    assert (one.host.info(0).HOST_SHARE.CPU_USAGE, one.host.info(1).HOST_SHARE.CPU_USAGE) == (100, 0)


def test_update_replace_and_merge(oned, one):
    vid = one.vm.allocate(VM_TEMPLATE, False)
    one.vm.update(vid, 'GALERNA_LEASE_ID = "7"', 1)
    user = one.vm.info(vid).USER_TEMPLATE
    assert user["GALERNA_LEASE_ID"] == "7" and user["HAIZEA"]["START"] == "best_effort"
    one.vm.update(vid, {"TEMPLATE": {"HAIZEA": {"START": "now"}}}, 1)  # merge replaces the whole vector
    assert one.vm.info(vid).USER_TEMPLATE["HAIZEA"] == {"START": "now"}
    # An XML template's root element is only a wrapper: pyone's {"HAIZEA": {...}} sets a top-level START.
    one.vm.update(vid, {"HAIZEA": {"START": "later"}}, 1)
    user = one.vm.info(vid).USER_TEMPLATE
    assert user["START"] == "later" and user["HAIZEA"] == {"START": "now"}
    one.vm.update(vid, 'ONLY = "this"', 0)
    assert dict(one.vm.info(vid).USER_TEMPLATE) == {"ONLY": "this"}
    with pytest.raises(pyone.OneApiException, match="Wrong update type"):
        one.vm.update(vid, 'A = "b"', 2)


# ---- fault injection ----------------------------------------------------------------------------------------------
def test_injected_boot_failure_and_recover(oned, one):
    oned.add_host("node1")
    oned.fail_next_deploy(0)
    vid = one.vm.allocate(VM_TEMPLATE, False)
    one.vm.deploy(vid, 0, True, 0)
    assert oned.wait_state(vid, VmState.ACTIVE, Lcm.BOOT_FAILURE)
    assert one.host.info(0).HOST_SHARE.CPU_USAGE == 100  # a failed boot still holds its share
    one.vm.recover(vid, 3)  # delete
    assert one.vm.info(vid).STATE == VmState.DONE
    assert one.host.info(0).HOST_SHARE.CPU_USAGE == 0
    again = running_vm(oned, one)  # the fault was for one deploy only
    assert one.vm.info(again).LCM_STATE == Lcm.RUNNING


def test_host_error_turns_its_running_vms_unknown(oned, one):
    oned.add_host("node1")
    vid = running_vm(oned, one)
    other = running_vm(oned, one)
    oned.host_error(0)
    assert one.host.info(0).STATE == HostState.ERROR
    vm = one.vm.info(vid)
    assert (vm.STATE, vm.LCM_STATE) == (VmState.ACTIVE, Lcm.UNKNOWN)
    one.vm.action("resume", vid)  # an operator boots it again
    assert oned.wait_state(vid, VmState.ACTIVE, Lcm.RUNNING)
    assert one.vm.info(vid).PREV_LCM_STATE == Lcm.BOOT_UNKNOWN
    oned.host_recovered(0)  # monitoring finds the other one still running
    assert one.host.info(0).STATE == HostState.MONITORED
    assert one.vm.info(other).LCM_STATE == Lcm.RUNNING
    oned.set_host_state(0, HostState.DISABLED)
    assert one.host.info(0).STATE == HostState.DISABLED


# ---- ZeroMQ -------------------------------------------------------------------------------------------------------
PROBE = "EVENT API one.probe"


def _subscriber(endpoint: str, *prefixes: str):
    sub = zmq.Context.instance().socket(zmq.SUB)
    for prefix in prefixes + (PROBE,):
        sub.setsockopt_string(zmq.SUBSCRIBE, prefix)
    sub.connect(endpoint)
    sub.setsockopt(zmq.RCVTIMEO, 5000)
    return sub


def _joined(oned_zmq, sub) -> None:
    """Beat PUB/SUB's slow joiner: publish probe events until the subscriber sees one, then drain the rest."""
    for _ in range(250):
        with oned_zmq.model.lock:
            oned_zmq.model.api_called(ApiCall("one.probe", [], True, 0, 0))
        oned_zmq.zmq.flush()
        if sub.poll(20):
            break
    else:
        raise AssertionError("the subscriber never joined")
    while sub.poll(50):
        assert sub.recv_multipart()[0].decode().startswith(PROBE)


def _collect(sub, count: int) -> list[tuple[str, str]]:
    out = []
    for _ in range(count):
        key, payload = sub.recv_multipart()
        out.append((key.decode(), base64.b64decode(payload).decode()))
    return out


def test_zmq_state_and_api_events_have_oned_keys(oned_zmq):
    oned = oned_zmq
    oned.add_host("node1")
    one = pyone.OneServer(oned.url, session=oned.session)
    sub = _subscriber(oned.zmq_endpoint, "EVENT STATE VM/", "EVENT VM ", "EVENT API one.vm.", "EVENT STATE HOST/")
    _joined(oned, sub)
    vid = one.vm.allocate(VM_TEMPLATE, False)
    first = _collect(sub, 3)
    assert [key for key, _ in first] == [f"EVENT VM {vid}/PENDING/LCM_INIT ",
                                         f"EVENT STATE VM/PENDING/LCM_INIT/{vid} ",
                                         "EVENT API one.vm.allocate 1"]
    xsd.validate(first[0][1], "hook_message_state.xsd")
    xsd.validate(first[2][1], "hook_message_api.xsd")
    assert first[0][1] == first[1][1] and "<HAIZEA>" in first[0][1]  # the full VM, custom attributes included
    assert "<VALUE>****</VALUE>" in first[2][1] and oned.session not in first[2][1]
    one.vm.deploy(vid, 0, True, 0)
    assert oned.wait_state(vid, VmState.ACTIVE, Lcm.RUNNING)
    keys = [key for key, _ in _collect(sub, 7)]
    # The state hook fires inside the request (vmpool->update), the API hook after it.
    assert keys == [f"EVENT VM {vid}/ACTIVE/PROLOG ", f"EVENT STATE VM/ACTIVE/PROLOG/{vid} ",
                    "EVENT API one.vm.deploy 1",
                    f"EVENT VM {vid}/ACTIVE/BOOT ", f"EVENT STATE VM/ACTIVE/BOOT/{vid} ",
                    f"EVENT VM {vid}/ACTIVE/RUNNING ", f"EVENT STATE VM/ACTIVE/RUNNING/{vid} "]
    with pytest.raises(pyone.OneActionException):
        one.vm.action("release", vid)
    key, payload = _collect(sub, 1)[0]
    assert key == "EVENT API one.vm.action 0"
    xsd.validate(payload, "hook_message_api.xsd")
    oned.host_error(0)
    got = dict(_collect(sub, 3))
    assert "EVENT STATE HOST/ERROR//0 " in got and f"EVENT STATE VM/ACTIVE/UNKNOWN/{vid} " in got
    one.vm.info(vid)  # info calls raise no API event
    oned.zmq.flush()
    assert not any(key.startswith("EVENT API one.vm.info") for key, _ in oned.zmq.sent)
    sub.close(linger=0)


def test_zmq_drop_switch_loses_messages(oned_zmq):
    oned = oned_zmq
    one = pyone.OneServer(oned.url, session=oned.session)
    sub = _subscriber(oned.zmq_endpoint, "EVENT STATE VM/")
    _joined(oned, sub)
    oned.zmq.drop = lambda key: key.startswith("EVENT STATE VM/PENDING/")
    lost = one.vm.allocate(VM_TEMPLATE, False)
    oned.zmq.flush()  # the switch is read by the sender thread: let it pass the allocate's messages first
    oned.zmq.drop = False
    one.vm.action("hold", lost)
    key, _ = _collect(sub, 1)[0]
    assert key == f"EVENT STATE VM/HOLD/LCM_INIT/{lost} "  # the PENDING one never arrived
    assert [k for k, _ in oned.zmq.dropped] == [f"EVENT STATE VM/PENDING/LCM_INIT/{lost} "]
    sub.close(linger=0)


def test_documents_validate_in_every_state_a_lifecycle_visits(oned_zmq):
    """Walk one VM through deploy, suspend, resume, migrate, poweroff, resume, stop, redeploy with a NIC,
    undeploy, terminate: vm.info, the pools and every state-hook payload validate at each step."""
    oned = oned_zmq
    oned.add_host("node1")
    oned.add_host("node2")
    one = pyone.OneServer(oned.url, session=oned.session)
    raw = xmlrpc.client.ServerProxy(oned.url)
    s = oned.session
    vid = one.vm.allocate(VM_TEMPLATE + 'SERVICE = "no"\nLABELS = "x"\n', False)

    def check():
        xsd.validate(raw.one.vm.info(s, vid)[1], "vm.xsd")
        xsd.validate(raw.one.vmpool.info(s, -2, -1, -1, -2)[1], "vm_pool.xsd")
        xsd.validate(raw.one.vmpool.infoextended(s, -2, -1, -1, -2)[1], "vm_pool_extended.xsd")
        xsd.validate(raw.one.hostpool.info(s)[1], "host_pool.xsd")

    steps = [
        (lambda: one.vm.deploy(vid, 0, True, 0), (VmState.ACTIVE, Lcm.RUNNING)),
        (lambda: one.vm.action("suspend", vid), (VmState.SUSPENDED, Lcm.LCM_INIT)),
        (lambda: one.vm.action("resume", vid), (VmState.ACTIVE, Lcm.RUNNING)),
        (lambda: one.vm.migrate(vid, 1, False, True, -1, 0), (VmState.ACTIVE, Lcm.RUNNING)),
        (lambda: one.vm.action("poweroff", vid), (VmState.POWEROFF, Lcm.LCM_INIT)),
        (lambda: one.vm.action("resume", vid), (VmState.ACTIVE, Lcm.RUNNING)),
        (lambda: one.vm.action("stop", vid), (VmState.STOPPED, Lcm.LCM_INIT)),
        (lambda: one.vm.deploy(vid, 0, True, 0, 'NIC = [ NIC_ID = "0", NETWORK_ID = "3" ]'),
         (VmState.ACTIVE, Lcm.RUNNING)),
        (lambda: one.vm.action("undeploy", vid), (VmState.UNDEPLOYED, Lcm.LCM_INIT)),
        (lambda: one.vm.action("terminate", vid), (VmState.DONE, Lcm.LCM_INIT)),
    ]
    check()
    for step, (state, lcm) in steps:
        step()
        check()
        assert oned.wait_state(vid, state, lcm)
        check()
    oned.zmq.flush()
    state_payloads = [payload for key, payload in oned.zmq.sent if key.startswith("EVENT STATE VM/")]
    assert len(state_payloads) == 27  # allocate + every transient and final state on the way
    for payload in state_payloads:
        xsd.validate(payload, "hook_message_state.xsd")
    assert [h.HID for h in one.vm.info(vid).HISTORY_RECORDS.HISTORY] == [0, 1, 0]
    assert one.vm.info(vid).TEMPLATE["NIC"] == {"NIC_ID": "0", "NETWORK_ID": "3"}
    assert one.vm.info(vid).ETIME > 0


def test_a_plain_user_manages_its_own_vms_but_may_not_deploy_them(oned, one):
    oned.add_host("node1")
    oned.model.add_user("alice", "secret")
    oned.model.add_user("bob", "secret")
    alice = pyone.OneServer(oned.url, session="alice:secret")
    bob = pyone.OneServer(oned.url, session="bob:secret")
    mine = alice.vm.allocate(VM_TEMPLATE, False)
    vm = alice.vm.info(mine)
    assert (vm.UNAME, vm.GNAME) == ("alice", "users")
    alice.vm.action("hold", mine)  # MANAGE on its own VM
    with pytest.raises(pyone.OneAuthorizationException,
                       match=rf"^\[one.vm.deploy\] User \[1\] : Not authorized to perform ADMIN VM \[{mine}\].$"):
        alice.vm.deploy(mine, 0, False, -1)
    with pytest.raises(pyone.OneAuthorizationException, match=r"User \[2\] : Not authorized to perform USE VM"):
        bob.vm.info(mine)
    with pytest.raises(pyone.OneAuthorizationException, match="Not authorized to perform MANAGE VM"):
        bob.vm.action("release", mine)
    assert [v.ID for v in bob.vmpool.info(-2, -1, -1, -1).VM] == []  # others' VMs are not listed
    one.vm.deploy(mine, 0, False, -1)  # oneadmin may
