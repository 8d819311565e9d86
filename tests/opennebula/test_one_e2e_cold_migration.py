"""An AR deployed at its exact time by stopping a best-effort VM, which later resumes on ANOTHER host: the cold
migration Haizea planned and never enacted, carried out as oned's deploy of a STOPPED VM on a new host."""
from __future__ import annotations

import time

import pyone
import pytest

from galerna.config.schema import MigrationMode

from helpers import wait_until

from .oned_double.states import Lcm, VmState
from .test_one_e2e import Daemon, vm

pytestmark = pytest.mark.xdist_group("opennebula-e2e")


def vm_template(name, start, duration, preemptible):
    return (f'NAME = "{name}"\nCPU = 2\nMEMORY = 64\n'
            f'HAIZEA = [ START = "{start}", DURATION = "{duration}", PREEMPTIBLE = "{preemptible}" ]\n')


def running(oned, vid):
    return (vm(oned, vid).state, vm(oned, vid).lcm_state) == (VmState.ACTIVE, Lcm.RUNNING)


def hosts_of(oned, vid):
    with oned.model.lock:
        return [h.hid for h in oned.model.vms[vid].history]


def test_an_ar_stops_a_best_effort_vm_which_resumes_on_another_host(oned_zmq, tmp_path):
    """node1 and node2 have 2 cores each. A best-effort VM and an immediate VM take one host each; an AR needs a
    whole host at its time, so the best-effort VM is stopped (its host freed) and the AR deployed there. When the
    immediate VM ends, the AR still holds the best-effort VM's old host: it resumes on the other one."""
    oned_zmq.add_host("node1", 2, 2048)
    oned_zmq.add_host("node2", 2, 2048)
    one = pyone.OneServer(oned_zmq.url, session=oned_zmq.session)
    calls = []
    # successful deploys only: one refused because the immediate VM's epilog has not freed its host yet is retried
    oned_zmq.model.api_listeners.append(
        lambda c: c.method == "one.vm.deploy" and c.success and calls.append(tuple(c.params[:2])))
    with Daemon(oned_zmq, tmp_path, scheduling={"migration": MigrationMode.YES}):
        be = one.vm.allocate(vm_template("be", "best_effort", "00:10:00", "yes"), False)
        wait_until(lambda: running(oned_zmq, be), what="the best-effort VM running")
        blocker = one.vm.allocate(vm_template("im", "now", "00:00:20", "no"), False)
        wait_until(lambda: running(oned_zmq, blocker), what="the immediate VM running")
        (be_host,), (blocker_host,) = hosts_of(oned_zmq, be), hosts_of(oned_zmq, blocker)
        assert be_host != blocker_host
        ar = one.vm.allocate(vm_template("ar", "+00:00:10", "00:01:00", "no"), False)
        with oned_zmq.model.lock:
            ar_start = oned_zmq.model.vms[ar].stime + 10
        wait_until(lambda: vm(oned_zmq, ar).state == VmState.ACTIVE, timeout=30, what="the AR deployed")
        deployed_at = time.time()
        assert ar_start - 0.5 <= deployed_at <= ar_start + 5  # at its time, not at some later poll
        assert hosts_of(oned_zmq, ar) == [be_host]  # on the host the best-effort VM had
        assert vm(oned_zmq, be).state == VmState.STOPPED  # stopped, so its host was really free
        wait_until(lambda: running(oned_zmq, be), timeout=40, what="the best-effort VM resumed")
        assert hosts_of(oned_zmq, be) == [be_host, blocker_host]  # resumed on the other host: a cold migration
        assert vm(oned_zmq, blocker).state == VmState.DONE and running(oned_zmq, ar)
        assert [c for c in calls if c[0] == be] == [(be, be_host), (be, blocker_host)]  # deployed once per host
        with oned_zmq.model.lock:
            assert [h.cpu_usage for h in oned_zmq.model.hosts.values()] == [200, 200]
