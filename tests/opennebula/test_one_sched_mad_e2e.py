"""OpenNebula 7 mode end to end: the daemon, and Galerna's SCHED_MAD driver started by the double's oned harness."""
from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import pyone
import pytest

from galerna.daemon.settings import DaemonConfig, Settings
from galerna.enact.config import EnactmentConfig
from galerna.config.opennebula import OpenNebulaConfig
from galerna.opennebula.credentials import parse_one_auth
from galerna.opennebula.daemon import build_service

from helpers import wait_until

from .oned_double.states import Lcm, VmState

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.xdist_group("opennebula-e2e")


@pytest.fixture
def world(oned_zmq, sched_mad, tmp_path):
    oned_zmq.add_host("node1", 2, 2048)
    sock = tmp_path / "plan.sock"
    cfg = OpenNebulaConfig(placement="sched-mad", plan_socket=str(sock), action_poll=0.05, reconcile_interval=1,
                           zmq_endpoint=oned_zmq.zmq_endpoint)
    st = Settings(daemon=DaemonConfig(db=f"sqlite:///{tmp_path / 'g.db'}", data_dir=str(tmp_path), log_json=False),
                  enactment=EnactmentConfig(data_dir=""))
    st = st.model_copy(update={"config": st.config.model_copy(update={"opennebula": cfg})})
    svc = build_service(st, oned_zmq.url, credentials=parse_one_auth(oned_zmq.session, "test"), wait_timeout=20)
    svc.start()
    # what oned.conf's SCHED_MAD EXECUTABLE points at: a program (here a wrapper running this checkout)
    exe = tmp_path / "galerna-sched"
    exe.write_text(f"#!/bin/sh\nPYTHONPATH={ROOT} exec {sys.executable} -m galerna.opennebula.sched_mad \"$@\"\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / "sched.log"
    harness = sched_mad(str(exe), f"-s {sock} -l {log}")
    try:
        yield oned_zmq, svc, harness, log
    finally:
        svc.stop()


def state(oned, vid):
    with oned.model.lock:
        v = oned.model.vms[vid]
        return v.state, v.lcm_state


def test_place_answers_galernas_plan_and_logs_why_vms_wait(world):
    oned, svc, harness, log = world
    one = pyone.OneServer(oned.url, session=oned.session)
    ar = one.vm.allocate('NAME = "ar"\nCPU = 1\nMEMORY = 512\n'
                         'HAIZEA = [ START = "+01:00:00", DURATION = "00:10:00", PREEMPTIBLE = "no" ]\n', False)
    wait_until(lambda: svc.mode.directory.by_vm(ar) is not None, what="the AR's lease")
    assert harness.place() is not None
    (reply,) = harness.wait_reply(1)
    assert reply.status == "SUCCESS"
    plan = ET.fromstring(reply.payload)
    assert plan.findall("ACTION") == []  # an AR an hour away is not deployed at this PLACE
    notes = [text for level, vid, text in harness.logs if vid == ar]
    assert any("planned start" in t for t in notes)
    assert state(oned, ar) == (VmState.PENDING, Lcm.LCM_INIT)
    assert "PLACE" in log.read_text()


def test_a_wanted_vm_is_placed_by_the_plan_with_host_and_datastore(world):
    oned, svc, harness, log = world
    one = pyone.OneServer(oned.url, session=oned.session)
    ar = one.vm.allocate('NAME = "ar"\nCPU = 1\nMEMORY = 512\n'
                         'HAIZEA = [ START = "+01:00:00", DURATION = "00:10:00", PREEMPTIBLE = "no" ]\n', False)
    wait_until(lambda: svc.mode.directory.by_vm(ar) is not None, what="the lease")
    svc.mode.book.want(ar, 0)  # what the driver registers when the core starts a lease and its deploy waits
    harness.place()
    (reply,) = harness.wait_reply(1)
    act = ET.fromstring(reply.payload).find("ACTION")
    assert [act.findtext(k) for k in ("VM_ID", "OPERATION", "HOST_ID")] == [str(ar), "deploy", "0"]
    assert act.findtext("DS_ID") is not None
    harness.tick()
    wait_until(lambda: state(oned, ar)[0] == VmState.ACTIVE, what="the plan's deploy")


def test_a_refusal_becomes_the_vms_sched_message(world):
    oned, svc, harness, log = world
    one = pyone.OneServer(oned.url, session=oned.session)
    bad = one.vm.allocate('NAME = "bad"\nCPU = 1\nMEMORY = 512\n'
                          'HAIZEA = [ START = "best_effort", DURATION = "soon" ]\n', False)
    wait_until(lambda: bad in svc.mode._refused, what="the refusal")
    harness.place()
    harness.wait_reply(1)
    errors = [text for level, vid, text in harness.logs if vid == bad and level == "E"]
    assert errors and "HAIZEA/DURATION" in errors[0]
    with oned.model.lock:
        assert "HAIZEA/DURATION" in oned.model.vms[bad].user_template.get("SCHED_MESSAGE")
