"""`galerna serve --opennebula` as a real process against the oned double: what an operator sees through the REST
API when deploys keep failing, and what a kill -9 in the middle of a burst of VM creations leaves behind."""
from __future__ import annotations

import threading
import time
from collections import Counter

import pyone
import pytest

from helpers import poll, wait_until

from .galerna_process import GalernaProcess
from .oned_double.double import OnedDouble
from .oned_double.states import Lcm, VmState

pytestmark = pytest.mark.xdist_group("opennebula-e2e")

QEMU = "Could not create domain from /var/lib/one//datastores/0/0/deployment.0: qemu unexpectedly closed the monitor"


@pytest.fixture
def oned():
    double = OnedDouble().start()
    double.start_zmq()
    try:
        yield double
    finally:
        double.stop()


@pytest.fixture
def galerna(oned, tmp_path):
    made = []

    def start(config: str = "") -> GalernaProcess:
        g = GalernaProcess(oned, tmp_path, config)
        made.append(g)
        return g.start()

    yield start
    for g in made:
        g.stop()


def deploy_calls(oned) -> Counter:
    """VM id -> how many one.vm.deploy calls oned received for it (successful or not)."""
    calls = Counter()

    def count(call):
        if call.method == "one.vm.deploy":
            calls[int(call.params[0])] += 1
    oned.model.api_listeners.append(count)
    return calls


def state(oned, vid):
    with oned.model.lock:
        v = oned.model.vms[vid]
        return VmState(v.state), Lcm(v.lcm_state)


def test_a_deploy_that_keeps_failing_is_retried_then_fails_the_lease_with_openNebulas_message(oned, galerna):
    """Both hosts answer every boot with a driver error: the executor retries (one.vm.recover retry, never a second
    deploy), then `[enactment.failure] deploy = "fail"` fails the lease, and the REST API says why in oned's words."""
    for hid in (oned.add_host("node1", 2, 2048).id, oned.add_host("node2", 2, 2048).id):
        oned.fail_next_deploy(hid, Lcm.BOOT_FAILURE, QEMU, times=20)
    deploys = deploy_calls(oned)
    recovers = []
    oned.model.api_listeners.append(lambda c: c.method == "one.vm.recover" and recovers.append(c.params))
    g = galerna('[enactment.retry]\nattempts = 3\nbackoff_initial = 0.1\nbackoff_max = 0.2\n'
                '[enactment.failure]\ndeploy = "fail"\n')
    one = pyone.OneServer(oned.url, session=oned.session)
    vid = one.vm.allocate('NAME = "web"\nCPU = 1\nMEMORY = 512\n'
                          'HAIZEA = [ START = "now", DURATION = "00:10:00", PREEMPTIBLE = "no" ]\n', False)
    lease = wait_until(lambda: g.leases_by_vm().get(vid), what="the VM's lease in the REST API")
    api = g.api()
    failed = wait_until(lambda: (x := api.get(f"/v1/leases/{lease['id']}").json())["state"] == "failed" and x,
                        timeout=60, what="the lease failed")
    assert "BOOT_FAILURE" in failed["reason"] and "qemu unexpectedly closed the monitor" in failed["reason"]
    assert deploys[vid] == 1 and len(recovers) >= 2  # retried by recover on the same deploy
    # the user sees it in OpenNebula too, and the failed lease's VM does not keep its host's capacity
    wait_until(lambda: state(oned, vid)[0] == VmState.DONE, what="the failed lease's VM terminated")
    with oned.model.lock:
        assert oned.model.vms[vid].user_template.get("GALERNA_STATE") == "failed"
        assert all(h.cpu_usage == 0 for h in oned.model.hosts.values())


def test_killed_with_sigkill_mid_burst_and_restarted_deploys_no_vm_twice_and_accounts_for_every_vm(oned, galerna):
    """A burst of VM creations; Galerna is killed -9 while it deploys them (some deploys still in PROLOG/BOOT,
    some VMs not yet leases), more VMs arrive and one is terminated while it is down; after the restart every VM
    runs under exactly one lease, none got a second one.vm.deploy, and the terminated VM's lease is over."""
    for i in range(4):
        oned.add_host(f"node{i + 1}", 16, 8192)  # room for all 50
    oned.set_delays(PROLOG=0.4, BOOT=0.4)  # deploys in flight at the kill
    deploys = deploy_calls(oned)
    g = galerna("reconcile_interval = 2\n")
    one = pyone.OneServer(oned.url, session=oned.session)
    created: list[int] = []

    def burst(n: int, pause: float) -> None:
        for i in range(n):
            created.append(one.vm.allocate(f'NAME = "b{len(created)}"\nCPU = 1\nMEMORY = 128\n'
                                           'HAIZEA = [ START = "best_effort", DURATION = "00:30:00", '
                                           'PREEMPTIBLE = "yes" ]\n', False))
            time.sleep(pause)

    creator = threading.Thread(target=burst, args=(40, 0.03))
    creator.start()
    wait_until(lambda: sum(deploys.values()) >= 6, timeout=60, what="the first deploys of the burst")
    g.kill()
    at_kill = dict(deploys)
    in_flight = [v for v in at_kill if state(oned, v) != (VmState.ACTIVE, Lcm.RUNNING)]
    assert in_flight  # killed while oned was still deploying (PROLOG/BOOT take 0.8 s)
    creator.join()
    burst(10, 0.0)  # created while Galerna is down
    victim = created[0]
    one.vm.action("terminate-hard", victim)  # finished in OpenNebula while Galerna is down
    assert len(at_kill) < len(created) - 10  # the kill really was mid-burst
    g.start()
    alive = [v for v in created if v != victim]
    not_running = lambda: {v: state(oned, v) for v in alive if state(oned, v) != (VmState.ACTIVE, Lcm.RUNNING)}  # noqa: E731
    if poll(lambda: not not_running(), 120) is not True:
        raise AssertionError(f"not running after the restart: {not_running()}; deploys {dict(deploys)}; "
                             f"log:\n{g.log.read_text()[-4000:]}")
    time.sleep(2.5)  # a reconcile pass and the monitor have been through: nothing deploys again
    twice = {v: n for v, n in deploys.items() if n != 1}
    assert not twice, f"VMs deployed more than once: {twice}"
    assert set(deploys) == set(alive) | ({victim} & set(at_kill))
    by_vm = g.leases_by_vm()
    assert set(alive) <= set(by_vm), f"VMs without a lease: {set(alive) - set(by_vm)}"
    named = Counter(vid for lease in g.leases() for vid in
                    ([int(x) for x in lease["name"].split(":")[1].split(",")]
                     if (lease.get("name") or "").startswith("opennebula:") else []))
    assert all(named[v] == 1 for v in created if v in named), "a VM in two leases"
    assert all(by_vm[v]["state"] == "active" for v in alive)
    if victim in by_vm:
        wait_until(lambda: g.leases_by_vm()[victim]["state"] in ("cancelled", "done", "failed"),
                   what="the VM terminated while Galerna was down: its lease is over")
    assert g.starts == 2
