"""oned's ZeroMQ events through the double's publisher, reconnection, and the full reads that make up for drops."""
from __future__ import annotations

import base64
import threading
import time

import pyone
import zmq

from galerna.opennebula.credentials import parse_one_auth
from galerna.opennebula.client import OneClient
from galerna.opennebula.events import EventSubscriber, HostEvent, PoolReconciler, parse_event

VM_TEMPLATE = ('NAME = "ev"\nCPU = 1\nMEMORY = 512\n'
               'HAIZEA = [ START = "now", DURATION = "00:10:00", PREEMPTIBLE = "no" ]\n')


def wait(pred, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


def test_parse_event_ignores_garbage():
    assert parse_event(b"EVENT STATE VM/PENDING/LCM_INIT/1 ", b"!!notbase64") is None
    assert parse_event(b"EVENT STATE VM/PENDING/LCM_INIT/1 ", base64.b64encode(b"<HOOK_MESSAGE/>")) is None
    ev = parse_event(b"EVENT STATE HOST/ERROR//3 ", base64.b64encode(b"<HOOK_MESSAGE/>"))
    assert ev == HostEvent(3, "ERROR")


def test_vm_state_changes_arrive_with_the_whole_vm(oned_zmq):
    oned_zmq.add_host("node1", 4, 8192)
    seen = []
    connected = threading.Event()
    sub = EventSubscriber(oned_zmq.zmq_endpoint, seen.append, on_connect=connected.set).start()
    try:
        assert connected.wait(5)
        time.sleep(0.3)  # the subscription itself travels after the connection (slow joiner)
        one = pyone.OneServer(oned_zmq.url, session=oned_zmq.session)
        vid = one.vm.allocate(VM_TEMPLATE, False)
        one.vm.deploy(vid, 0, True, 0)
        assert wait(lambda: any(v.id == vid and v.running() for v in seen))
    finally:
        sub.stop()
    first = next(v for v in seen if v.id == vid)
    assert first.state_name == "PENDING"
    assert first.user_template["HAIZEA"]["START"] == "now"  # the full VM, not the short pool body
    states = [v.state_name for v in seen if v.id == vid]
    assert states[0] == "PENDING" and states[-1] == "ACTIVE/RUNNING" and "ACTIVE/BOOT" in states


def test_reconnection_is_seen_so_the_pool_is_read_again():
    ctx = zmq.Context.instance()
    pub = ctx.socket(zmq.PUB)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    connects = []
    sub = EventSubscriber(f"tcp://127.0.0.1:{port}", lambda vm: None, on_connect=lambda: connects.append(1)).start()
    try:
        assert wait(lambda: len(connects) == 1)
        pub.close(0)  # oned restarts
        time.sleep(0.3)
        pub = ctx.socket(zmq.PUB)
        pub.bind(f"tcp://127.0.0.1:{port}")
        assert wait(lambda: len(connects) == 2, timeout=10)
    finally:
        sub.stop()
        pub.close(0)


def test_dropped_events_are_made_up_by_the_reconciler(oned_zmq):
    oned_zmq.add_host("node1", 4, 8192)
    oned_zmq.zmq.drop = True  # every event lost
    seen = []
    sub = EventSubscriber(oned_zmq.zmq_endpoint, seen.append).start()
    creds = parse_one_auth(oned_zmq.session, "test")
    client = OneClient(oned_zmq.url, creds)
    pools = []
    rec = PoolReconciler(client.vms, pools.append, interval=0.2)
    try:
        one = pyone.OneServer(oned_zmq.url, session=oned_zmq.session)
        vid = one.vm.allocate(VM_TEMPLATE, False)
        rec.start()
        assert wait(lambda: any(v.id == vid for p in pools for v in p))
        oned_zmq.zmq.flush()
        assert seen == [] and oned_zmq.zmq.dropped
        n = rec.passes
        rec.request()
        assert wait(lambda: rec.passes > n, timeout=2)
    finally:
        rec.stop()
        sub.stop()


def test_reconciler_survives_oned_being_down():
    calls = []

    def read():
        calls.append(1)
        raise OSError("down")

    rec = PoolReconciler(read, lambda vms: None, interval=0.05).start()
    try:
        assert wait(lambda: len(calls) >= 3)
    finally:
        rec.stop()
    assert rec.passes == 0
