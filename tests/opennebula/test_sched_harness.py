"""The SCHED_MAD harness of the oned double, against a tiny scheduler driver program written here."""
from __future__ import annotations

import json
import os
import stat
import sys
import textwrap

import pyone
import pytest

from .oned_double import xsd
from .oned_double.plan_manager import PlanState
from .oned_double.states import Lcm, VmState

# A first-fit placer speaking the SCHED_MAD protocol. With $PLAN_FILE present it answers that PLAN instead;
# it records its argv and whether fd 2 was open in $DRIVER_FACTS (it has no stderr to print to).
DRIVER = textwrap.dedent('''\
    #!{python}
    import base64, json, os, sys
    import xml.etree.ElementTree as ET

    facts = {{"argv": sys.argv}}
    try:
        os.fstat(2)
        facts["stderr_open"] = True
    except OSError:
        facts["stderr_open"] = False
    with open(os.environ["DRIVER_FACTS"], "w") as out:
        json.dump(facts, out)

    def send(line):
        sys.stdout.write(line + "\\n")
        sys.stdout.flush()

    def b64(text):
        return base64.b64encode(text.encode()).decode()

    def first_fit(doc):
        root = ET.fromstring(doc)
        free = {{}}
        for host in root.find("HOST_POOL"):
            share = host.find("HOST_SHARE")
            free[int(host.findtext("ID"))] = [int(share.findtext("MAX_CPU")) - int(share.findtext("CPU_USAGE")),
                                             int(share.findtext("MAX_MEM")) - int(share.findtext("MEM_USAGE"))]
        allowed = {{int(vm.findtext("ID")): [int(h.text) for h in vm.find("HOSTS")]
                   for vm in root.find("REQUIREMENTS")}}
        plan = "<PLAN><ID>-1</ID>"
        for vm in root.find("VM_POOL"):
            vid = int(vm.findtext("ID"))
            cpu = int(float(vm.findtext("TEMPLATE/CPU")) * 100)
            mem = int(vm.findtext("TEMPLATE/MEMORY")) * 1024
            for hid in allowed[vid]:
                if free[hid][0] >= cpu and free[hid][1] >= mem:
                    free[hid][0] -= cpu
                    free[hid][1] -= mem
                    plan += (f"<ACTION><VM_ID>{{vid}}</VM_ID><OPERATION>deploy</OPERATION>"
                             f"<HOST_ID>{{hid}}</HOST_ID><DS_ID>0</DS_ID></ACTION>")
                    break
            else:
                send(f"LOG E {{vid}} {{b64('no host with enough capacity')}}")
        return plan + "</PLAN>"

    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "INIT":
            send("INIT SUCCESS -")
        elif words[0] == "FINALIZE":
            break
        elif words[0] == "PLACE":
            die_once = os.environ.get("DIE_ONCE")
            if die_once and not os.path.exists(die_once):
                open(die_once, "w").close()
                sys.exit(3)  # dies without answering
            doc = base64.b64decode(words[-1]).decode()
            plan_file = os.environ.get("PLAN_FILE")
            if plan_file and os.path.exists(plan_file):
                plan = open(plan_file).read()
            else:
                plan = first_fit(doc)
            send("PLACE SUCCESS -1 " + b64(plan))
        elif words[0] == "OPTIMIZE":
            cid = words[-2]
            optimize_file = os.environ.get("OPTIMIZE_FILE")
            if optimize_file and os.path.exists(optimize_file):
                plan = open(optimize_file).read()
            else:
                plan = f"<PLAN><ID>{{cid}}</ID></PLAN>"
            send(f"OPTIMIZE SUCCESS {{cid}} " + b64(plan))
''')

VM = 'CPU = 1\nMEMORY = 1024\nHAIZEA = [ START = "best_effort", DURATION = "01:00:00" ]'


@pytest.fixture
def driver(tmp_path, monkeypatch):
    path = tmp_path / "galerna-sched"
    path.write_text(DRIVER.format(python=sys.executable))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    facts = tmp_path / "facts.json"
    monkeypatch.setenv("DRIVER_FACTS", str(facts))
    monkeypatch.setenv("PLAN_FILE", str(tmp_path / "plan.xml"))
    return {"path": str(path), "facts": facts, "plan": tmp_path / "plan.xml"}


@pytest.fixture
def one(oned):
    return pyone.OneServer(oned.url, session=oned.session)


def test_driver_starts_as_oned_starts_it(oned, sched_mad, driver):
    harness = sched_mad(driver["path"], "-t 15 -p lease -o none")
    facts = json.loads(driver["facts"].read_text())
    assert facts["argv"] == [driver["path"], "-t 15 -p lease -o none"]  # ARGUMENTS is one argv entry
    assert facts["stderr_open"] is False  # oned close(2)s before exec
    assert harness.process.poll() is None


def test_no_place_when_nothing_is_pending(oned, sched_mad, driver, one):
    oned.add_host("node1")
    harness = sched_mad(driver["path"])
    assert harness.place() is None
    one.vm.allocate(VM, True)  # on hold: not pending
    assert harness.place() is None and harness.sent == []


def test_place_document_validates_and_the_plan_is_applied(oned, sched_mad, driver, one):
    oned.add_host("node1", cpu_cores=2, memory_mb=4096)
    oned.add_host("node2", cpu_cores=1, memory_mb=2048)
    oned.add_host("off", cpu_cores=8, memory_mb=8192)
    oned.host_error(2)  # only MONITORED hosts are offered
    vids = [one.vm.allocate(VM, False) for _ in range(3)]
    harness = sched_mad(driver["path"], max_actions_per_host=2)
    document = harness.place()
    xsd.validate(document)
    assert "<HAIZEA>" in document and "<NAME>off</NAME>" not in document
    reply = harness.wait_reply()[0]
    assert (reply.status, reply.oid) == ("SUCCESS", "-1")
    xsd.validate(reply.payload)  # the PLAN the harness accepted
    plan = harness.plans.placement
    assert [(a.vm_id, a.host_id) for a in plan.actions] == [(vids[0], 0), (vids[1], 0), (vids[2], 1)]
    for vid in vids:
        assert oned.wait_state(vid, VmState.ACTIVE, Lcm.RUNNING)
    assert oned.model.wait_until(lambda: plan.state == PlanState.DONE)
    history = one.vm.info(vids[2]).HISTORY_RECORDS.HISTORY[0]
    assert (history.HID, history.PLAN_ID, history.ACTION_ID) == (1, -1, 2)


def test_max_actions_per_host_breaks_the_loop_and_the_timer_resumes_it(oned, sched_mad, driver, one):
    oned.add_host("node1")
    oned.add_host("node2")
    a, b, c = (one.vm.allocate(VM, False) for _ in range(3))
    driver["plan"].write_text(
        "<PLAN><ID>-1</ID>"
        + "".join(f"<ACTION><VM_ID>{v}</VM_ID><OPERATION>deploy</OPERATION><HOST_ID>{h}</HOST_ID>"
                  f"<DS_ID>0</DS_ID></ACTION>" for v, h in ((a, 0), (b, 0), (c, 1)))
        + "</PLAN>")
    harness = sched_mad(driver["path"])  # MAX_ACTIONS_PER_HOST = 1
    harness.place()
    harness.wait_reply()
    assert oned.wait_state(a, VmState.ACTIVE, Lcm.RUNNING)
    # b waits for host 0, and the loop broke there: c did not start although host 1 is free.
    assert [one.vm.info(v).STATE for v in (b, c)] == [VmState.PENDING, VmState.PENDING]
    harness.tick()  # the next MANAGER_TIMER tick starts b, then c (host 1 has no applying action)
    assert oned.wait_state(b, VmState.ACTIVE, Lcm.RUNNING) and oned.wait_state(c, VmState.ACTIVE, Lcm.RUNNING)
    assert oned.model.wait_until(lambda: harness.plans.placement.state == PlanState.DONE)


def test_plan_without_ds_id_is_dropped_whole(oned, sched_mad, driver, one):
    oned.add_host("node1")
    a, b = one.vm.allocate(VM, False), one.vm.allocate(VM, False)
    driver["plan"].write_text(
        f"<PLAN><ID>-1</ID><ACTION><VM_ID>{a}</VM_ID><OPERATION>deploy</OPERATION><HOST_ID>0</HOST_ID>"
        f"<DS_ID>0</DS_ID></ACTION><ACTION><VM_ID>{b}</VM_ID><OPERATION>deploy</OPERATION>"
        f"<HOST_ID>0</HOST_ID></ACTION></PLAN>")
    harness = sched_mad(driver["path"])
    harness.place()
    harness.wait_reply()
    xsd.validate(driver["plan"].read_text())  # valid by the XSD (DS_ID is optional there) ...
    assert harness.plans.placement is None  # ... but oned drops it: PlanAction needs DS_ID
    assert "Unable to create PlanAction from xml" in harness.plans.log
    assert one.vm.info(a).STATE == VmState.PENDING


def test_second_placement_plan_is_dropped_while_one_applies(manual_oned, driver):
    from .oned_double.sched_harness import SchedMadHarness
    oned = manual_oned
    oned.add_host("node1")
    one = pyone.OneServer(oned.url, session=oned.session)
    a = one.vm.allocate(VM, False)
    harness = SchedMadHarness(oned.model, driver["path"], action_timeout=300)
    harness.start()
    try:
        harness.place()
        harness.wait_reply(1)
        assert harness.plans.placement.actions[0].state == PlanState.APPLYING  # PROLOG, clock stopped
        b = one.vm.allocate(VM, False)
        harness.place()
        harness.wait_reply(2)
        assert "Cannot add plan. A placement plan is already in progress." in harness.plans.log
        assert one.vm.info(b).STATE == VmState.PENDING
        # stop has no completion callback: its action stays APPLYING until ACTION_TIMEOUT.
        oned.clock.advance(100)
        oned.model.tick()
        oned.model.tick()
        assert one.vm.info(a).LCM_STATE == Lcm.RUNNING and harness.plans.placement.state == PlanState.DONE
        driver["plan"].write_text(f"<PLAN><ID>-1</ID><ACTION><VM_ID>{a}</VM_ID><OPERATION>stop</OPERATION>"
                                  f"<HOST_ID>0</HOST_ID><DS_ID>0</DS_ID></ACTION></PLAN>")
        harness.place()
        harness.wait_reply(3)
        oned.clock.advance(100)
        oned.model.tick()
        oned.model.tick()
        assert one.vm.info(a).STATE == VmState.STOPPED
        assert harness.plans.placement.actions[0].state == PlanState.APPLYING
        oned.clock.advance(301)
        harness.tick()
        assert harness.plans.placement.state == PlanState.TIMEOUT
    finally:
        harness.stop()


def test_enforced_deploy_failure_marks_the_vm_and_log_e_sets_sched_message(oned, sched_mad, driver, one):
    oned.add_host("tiny", cpu_cores=0.5, memory_mb=512)
    a, b = one.vm.allocate(VM, False), one.vm.allocate(VM, False)
    driver["plan"].write_text(f"<PLAN><ID>-1</ID><ACTION><VM_ID>{a}</VM_ID><OPERATION>deploy</OPERATION>"
                              f"<HOST_ID>0</HOST_ID><DS_ID>0</DS_ID></ACTION></PLAN>")
    harness = sched_mad(driver["path"])
    harness.place()
    harness.wait_reply()
    action = harness.plans.placement.actions[0]
    assert action.state == PlanState.ERROR and harness.plans.placement.state == PlanState.ERROR
    assert one.vm.info(a).USER_TEMPLATE["ERROR"].endswith(  # "<ctime> : [deploy] ..."
        f" : [deploy] virtual machine [{a}] does not fit in host [0]. Not enough CPU: 100/50")
    os.unlink(driver["plan"])  # back to first fit, which finds no room and LOGs an error for each VM
    harness.place()
    harness.wait_reply(2)
    assert oned.model.wait_until(lambda: len(harness.logs) == 2)
    assert harness.logs[0] == ("E", a, "no host with enough capacity")
    assert one.vm.info(b).USER_TEMPLATE["SCHED_MESSAGE"].endswith(": no host with enough capacity")


def test_automatic_mode_places_when_the_window_fills(oned, sched_mad, driver, one):
    oned.add_host("node1", cpu_cores=8, memory_mb=16384)
    harness = sched_mad(driver["path"], automatic=True, sched_max_wnd_length=2, sched_max_wnd_time=30,
                        sched_retry_time=3600, timer_period=0.05, manager_timer=0.05)
    harness._last_place = oned.model.clock.now()  # as if a PLACE had just gone out: no retry yet
    first = one.vm.allocate(VM, False)
    assert not oned.wait_state(first, VmState.ACTIVE, Lcm.RUNNING, timeout=0.5)  # window of 1 < 2 VMs
    second = one.vm.allocate(VM, False)
    assert oned.wait_state(first, VmState.ACTIVE, Lcm.RUNNING)
    assert oned.wait_state(second, VmState.ACTIVE, Lcm.RUNNING)
    assert len(harness.sent) == 1


def test_a_driver_that_dies_is_restarted_and_initialised_again(oned, sched_mad, driver, one, tmp_path,
                                                               monkeypatch):
    monkeypatch.setenv("DIE_ONCE", str(tmp_path / "died"))
    oned.add_host("node1")
    vid = one.vm.allocate(VM, False)
    harness = sched_mad(driver["path"])
    first = harness.process
    harness.place()
    assert oned.model.wait_until(lambda: harness.restarts == 1 and harness.initialised == 2)
    assert harness.process is not first
    assert first.returncode == 3 and harness.received == []
    harness.place()  # the restarted driver answers
    harness.wait_reply()
    assert oned.wait_state(vid, VmState.ACTIVE, Lcm.RUNNING)


@pytest.mark.parametrize("automation", ["manual", "full"])
def test_optimize_plans_wait_for_planexecute_unless_automation_is_full(oned, sched_mad, driver, one, tmp_path,
                                                                      monkeypatch, automation):
    oned.add_host("node1")
    oned.add_host("node2")
    vid = one.vm.allocate(VM, False)
    one.vm.deploy(vid, 0, True, 0)
    assert oned.wait_state(vid, VmState.ACTIVE, Lcm.RUNNING)
    optimize_file = tmp_path / "optimize.xml"
    optimize_file.write_text(f"<PLAN><ID>0</ID><ACTION><VM_ID>{vid}</VM_ID><OPERATION>migrate</OPERATION>"
                             f"<HOST_ID>1</HOST_ID><DS_ID>0</DS_ID></ACTION></PLAN>")
    monkeypatch.setenv("OPTIMIZE_FILE", str(optimize_file))
    harness = sched_mad(driver["path"])
    harness.plans.automation[0] = automation
    document = harness.optimize(0)
    xsd.validate(document)
    assert f"<VM_POOL><VM><ID>{vid}</ID>" in document
    reply = harness.wait_reply(kind="OPTIMIZE")[0]
    assert (reply.status, reply.oid) == ("SUCCESS", "0")
    plan = harness.plans.plans[0]
    if automation == "manual":
        assert plan.state == PlanState.READY and one.vm.info(vid).HISTORY_RECORDS.HISTORY[-1].HID == 0
        harness.plans.start_plan(0)  # one.cluster.planexecute
    assert oned.model.wait_until(lambda: plan.state == PlanState.DONE)
    assert one.vm.info(vid).HISTORY_RECORDS.HISTORY[-1].HID == 1
    assert harness.plans.placement is None  # an optimization plan is not the placement plan


def test_place_window_retry_and_place_finished_follow_onedss_timers(manual_oned, driver):
    """SCHED_MAX_WND_TIME / SCHED_MAX_WND_LENGTH open a PLACE; SCHED_RETRY_TIME re-sends it while VMs wait;
    a finished placement plan asks for the next PLACE at once."""
    from .oned_double.sched_harness import SchedMadHarness
    oned = manual_oned
    oned.add_host("node1", cpu_cores=1, memory_mb=1024)
    one = pyone.OneServer(oned.url, session=oned.session)
    harness = SchedMadHarness(oned.model, driver["path"], sched_max_wnd_time=10, sched_max_wnd_length=7,
                              sched_retry_time=60)
    harness.start()
    try:
        harness._last_place = oned.clock.now()  # a PLACE just went out: no retry due yet
        a = one.vm.allocate(VM, False)
        oned.clock.advance(5)
        assert harness.scheduler_tick() is None  # the window is 5 s old and holds 1 VM
        oned.clock.advance(5)
        assert harness.scheduler_tick() is not None  # 10 s: PLACE
        harness.wait_reply(1)
        harness.wnd_time = 1000  # from here on b's window never comes due by age
        b = one.vm.allocate(VM, False)  # no room for b once a runs
        oned.clock.advance(30)
        oned.model.tick()
        oned.model.tick()
        assert one.vm.info(a).LCM_STATE == Lcm.RUNNING
        # a's plan is done, so the next tick places again (place_finished); b finds no room.
        assert harness.scheduler_tick() is not None
        harness.wait_reply(2)
        assert oned.model.wait_until(lambda: len(harness.logs) == 1)
        assert one.vm.info(b).STATE == VmState.PENDING
        oned.clock.advance(59)
        assert harness.scheduler_tick() is None
        oned.clock.advance(1)
        assert harness.scheduler_tick() is not None  # SCHED_RETRY_TIME: b is still pending
        harness.wait_reply(3)
        one.vm.action("hold", b)
        oned.clock.advance(600)
        assert harness.scheduler_tick() is None  # nothing pending: nothing is sent
        assert len(harness.sent) == 3
    finally:
        harness.stop()
