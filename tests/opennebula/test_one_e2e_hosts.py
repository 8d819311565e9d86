"""OpenNebula's host list is not read once: a host created in OpenNebula while Galerna runs is picked up at its
HOST event (and by the slow full read), and a host deleted there is removed, without a restart."""
from __future__ import annotations

import time

import pyone
import pytest

from helpers import wait_until

from .oned_double.states import Lcm, VmState
from .test_one_e2e import Daemon, vm

pytestmark = pytest.mark.xdist_group("opennebula-e2e")


def full(name):
    return (f'NAME = "{name}"\nCPU = 2\nMEMORY = 256\n'
            'HAIZEA = [ START = "best_effort", DURATION = "00:10:00", PREEMPTIBLE = "no" ]\n')


def running(oned, vid):
    return (vm(oned, vid).state, vm(oned, vid).lcm_state) == (VmState.ACTIVE, Lcm.RUNNING)


def test_a_host_created_in_opennebula_is_used_at_once_and_a_deleted_one_is_removed(oned_zmq, tmp_path):
    oned_zmq.add_host("node1", 2, 2048)
    one = pyone.OneServer(oned_zmq.url, session=oned_zmq.session)
    with Daemon(oned_zmq, tmp_path, reconcile_interval=60) as svc:
        wait_until(lambda: svc.mode.subscriber.connected.is_set(), what="subscribed to oned's events")
        first = one.vm.allocate(full("first"), False)
        wait_until(lambda: running(oned_zmq, first), what="the first VM running")
        waiting = one.vm.allocate(full("waiting"), False)  # node1 is full: it queues
        time.sleep(1.0)
        assert vm(oned_zmq, waiting).state == VmState.PENDING
        t0 = time.monotonic()
        node2 = oned_zmq.create_host("node2", 2, 2048)
        wait_until(lambda: running(oned_zmq, waiting), timeout=15, what="the queued VM running on the new host")
        assert time.monotonic() - t0 < 15  # the HOST event, not the 60 s full read
        with oned_zmq.model.lock:
            assert oned_zmq.model.vms[waiting].last_history.hid == node2.id
        assert [h.name for h in svc.core.site.hosts] == ["node1", "node2"]
        assert svc.core.site.hosts[1].capacity == {"cpu": 2.0, "memory": 2048.0}
        node3 = oned_zmq.create_host("node3", 4, 4096)
        wait_until(lambda: "node3" in [h.name for h in svc.core.site.hosts], what="node3 added")
        oned_zmq.delete_host(node3.id)
        svc.mode.reconciler.request()  # the slow full read (no event tells of a deletion)
        wait_until(lambda: "node3" not in [h.name for h in svc.core.site.hosts], what="node3 removed")
        assert running(oned_zmq, first) and running(oned_zmq, waiting)
