"""The daemon against the oned double whose ZeroMQ publisher loses VM state changes: Galerna still learns of them,
through its slow full reads of `one.vmpool.infoextended` (set to 1.5 s here)."""
from __future__ import annotations

import time

import pyone
import pytest

from helpers import wait_until

from .oned_double.states import Lcm, VmState
from .test_one_e2e import Daemon, template, user_attr, vm

pytestmark = pytest.mark.xdist_group("opennebula-e2e")


@pytest.fixture
def one(oned_zmq):
    oned_zmq.add_host("node1", 2, 2048)
    return pyone.OneServer(oned_zmq.url, session=oned_zmq.session)


def of_vm(vid: int):
    """The double's publisher predicate: every state event of VM ``vid`` is lost."""
    return lambda key: key.startswith(("EVENT STATE VM/", "EVENT VM ")) and (
        key.endswith(f"/{vid} ") or key.startswith(f"EVENT VM {vid}/"))


def test_a_new_vm_whose_events_are_all_lost_becomes_a_lease_at_the_next_pool_read(oned_zmq, one, tmp_path):
    with Daemon(oned_zmq, tmp_path, reconcile_interval=1.5) as svc:
        wait_until(lambda: svc.mode.subscriber.connected.is_set(), what="subscribed to oned's events")
        with oned_zmq.model.lock:
            vid = max(oned_zmq.model.vms, default=-1) + 1  # the id oned will give the next VM
        oned_zmq.zmq.drop = of_vm(vid)
        passes = svc.mode.reconciler.passes
        assert one.vm.allocate(template("now", "00:05:00"), False) == vid
        wait_until(lambda: user_attr(oned_zmq, vid, "GALERNA_LEASE_ID"), timeout=10, what="the lease")
        assert svc.mode.reconciler.passes > passes  # a full read found it, not an event
        wait_until(lambda: (vm(oned_zmq, vid).state, vm(oned_zmq, vid).lcm_state) == (VmState.ACTIVE, Lcm.RUNNING),
                   what="the VM running")
        oned_zmq.zmq.flush()
        lost = [k for k, _ in oned_zmq.zmq.dropped if k.startswith("EVENT STATE VM/")]
        assert f"EVENT STATE VM/PENDING/LCM_INIT/{vid} " in lost and f"EVENT STATE VM/ACTIVE/RUNNING/{vid} " in lost
        assert not [k for k, _ in oned_zmq.zmq.sent if of_vm(vid)(k)]


def test_a_vm_terminated_in_opennebula_with_its_event_lost_still_cancels_its_lease(oned_zmq, one, tmp_path):
    with Daemon(oned_zmq, tmp_path, reconcile_interval=1.5) as svc:
        vid = one.vm.allocate(template("now", "00:05:00"), False)
        wait_until(lambda: (vm(oned_zmq, vid).state, vm(oned_zmq, vid).lcm_state) == (VmState.ACTIVE, Lcm.RUNNING),
                   what="the VM running")
        lid = user_attr(oned_zmq, vid, "GALERNA_LEASE_ID")
        oned_zmq.zmq.drop = of_vm(vid)  # from now on Galerna hears nothing about this VM
        t0 = time.monotonic()
        one.vm.action("terminate-hard", vid)
        wait_until(lambda: svc.core.leases[lid].state.final, timeout=10, what="the lease over")
        oned_zmq.zmq.flush()
        assert any(k == f"EVENT STATE VM/DONE/LCM_INIT/{vid} " for k, _ in oned_zmq.zmq.dropped)
        assert svc.core.leases[lid].state.value == "cancelled"
        assert time.monotonic() - t0 < 10
