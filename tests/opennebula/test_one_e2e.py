"""Galerna's daemon in OpenNebula mode against the oned double: leases from VM templates, enacted on oned's clock.

The whole daemon runs (core, executor, gate, monitor, database) with OpenNebula as its only enactment; VMs are
created with pyone the way a user would (one.vm.allocate with a HAIZEA vector) and watched in the double's model.
"""
from __future__ import annotations

import time

import pyone
import pytest

from galerna.daemon.errors import ErrorKind, Refused
from galerna.daemon.settings import DaemonConfig, Settings
from galerna.enact.config import EnactmentConfig, RecoveryConfig
from galerna.enact.driver import HostState
from galerna.config.opennebula import OpenNebulaConfig
from galerna.opennebula.credentials import parse_one_auth
from galerna.opennebula.daemon import build_service

from helpers import wait_until

from .oned_double.states import Lcm, VmState

pytestmark = pytest.mark.xdist_group("opennebula-e2e")


def template(start="now", duration="00:00:30", extra="", memory=512, name="vm"):
    return (f'NAME = "{name}"\nCPU = 1\nMEMORY = {memory}\n'
            f'HAIZEA = [ START = "{start}", DURATION = "{duration}", PREEMPTIBLE = "no"{extra} ]\n')


class Daemon:
    def __init__(self, oned, tmp, enactment=None, scheduling=None, **one):
        cfg = OpenNebulaConfig(**{"action_poll": 0.05, "terminate_timeout": 2, "reconcile_interval": 1,
                                  "group_settle": 3, "zmq_endpoint": oned.zmq_endpoint or "tcp://127.0.0.1:9",
                                  "placement": "xmlrpc", **one})
        self.settings = Settings(
            daemon=DaemonConfig(db=f"sqlite:///{tmp / 'g.db'}", data_dir=str(tmp), log_json=False),
            enactment=enactment or EnactmentConfig(data_dir=""))
        config = {"opennebula": cfg}
        if scheduling:
            config["scheduling"] = self.settings.config.scheduling.model_copy(update=scheduling)
        self.settings = self.settings.model_copy(update={"config": self.settings.config.model_copy(update=config)})
        self.oned = oned
        self.service = build_service(self.settings, oned.url, credentials=parse_one_auth(oned.session, "test"),
                                     wait_timeout=20)

    def __enter__(self):
        self.service.start()
        return self.service

    def __exit__(self, *exc):
        self.service.stop()


@pytest.fixture
def one(oned_zmq):
    oned_zmq.add_host("node1", 2, 2048)
    oned_zmq.add_host("node2", 2, 2048)
    return pyone.OneServer(oned_zmq.url, session=oned_zmq.session)


def vm(oned, vid):
    with oned.model.lock:
        return oned.model.vms[vid]


def user_attr(oned, vid, name):
    v = vm(oned, vid)
    with oned.model.lock:
        return v.user_template.get(name)


def test_hosts_are_openNebulas_with_capacity_converted(oned_zmq, one, tmp_path):
    with Daemon(oned_zmq, tmp_path) as svc:
        site = svc.core.site
        assert [h.name for h in site.hosts] == ["node1", "node2"]
        assert site.hosts[0].capacity == {"cpu": 2.0, "memory": 2048.0}


def test_immediate_lease_runs_then_ends_with_terminate(oned_zmq, one, tmp_path):
    with Daemon(oned_zmq, tmp_path) as svc:
        vid = one.vm.allocate(template("now", "00:00:06"), False)
        wait_until(lambda: vm(oned_zmq, vid).state == VmState.ACTIVE and vm(oned_zmq, vid).lcm_state == Lcm.RUNNING,
             what="the VM running")
        lid = user_attr(oned_zmq, vid, "GALERNA_LEASE_ID")
        assert lid and svc.core.leases[lid].req.extra["name"].startswith(f"opennebula:{vid}:")
        # written back when the lease started (or already "done" if this machine is slow enough to miss it)
        wait_until(lambda: user_attr(oned_zmq, vid, "GALERNA_STATE") in ("running", "done"), what="state written back")
        wait_until(lambda: vm(oned_zmq, vid).state == VmState.DONE, timeout=30, what="the lease end")
        wait_until(lambda: svc.core.leases.get(lid) is None or svc.core.leases[lid].state.final, what="lease final")


def test_ar_starts_at_its_time_not_before(oned_zmq, one, tmp_path):
    with Daemon(oned_zmq, tmp_path) as svc:
        t0 = time.time()
        vid = one.vm.allocate(template("+00:00:04", "00:00:05"), False)
        wait_until(lambda: user_attr(oned_zmq, vid, "GALERNA_LEASE_ID"), what="the lease")
        time.sleep(2.0)
        assert vm(oned_zmq, vid).state == VmState.PENDING  # not deployed before its start
        wait_until(lambda: vm(oned_zmq, vid).state == VmState.ACTIVE, timeout=15, what="the AR deployed")
        stime = vm(oned_zmq, vid).stime
        assert time.time() >= stime + 4 - 1.0 and time.time() - t0 < 12
        assert user_attr(oned_zmq, vid, "GALERNA_PLANNED_START")


def test_bad_template_is_refused_where_the_user_looks_and_an_ar_is_held(oned_zmq, one, tmp_path):
    with Daemon(oned_zmq, tmp_path):
        bad_ar = one.vm.allocate(template("+1:00", "00:10:00"), False)
        bad_be = one.vm.allocate(template("best_effort", "ten minutes"), False)
        wait_until(lambda: user_attr(oned_zmq, bad_ar, "SCHED_MESSAGE") and user_attr(oned_zmq, bad_be, "SCHED_MESSAGE"),
             what="SCHED_MESSAGE")
        assert "HAIZEA/START" in user_attr(oned_zmq, bad_ar, "SCHED_MESSAGE")
        assert "HAIZEA/DURATION" in user_attr(oned_zmq, bad_be, "SCHED_MESSAGE")
        wait_until(lambda: vm(oned_zmq, bad_ar).state == VmState.HOLD, what="the AR held")
        assert vm(oned_zmq, bad_be).state == VmState.PENDING


def test_group_is_one_all_or_nothing_lease(oned_zmq, one, tmp_path):
    with Daemon(oned_zmq, tmp_path) as svc:
        ids = [one.vm.allocate(template("now", "00:00:20", ', GROUP = "mpi"', memory=1024, name=f"g{i}"), False)
               for i in range(3)]
        wait_until(lambda: all(user_attr(oned_zmq, v, "GALERNA_LEASE_ID") for v in ids), what="the group's lease")
        lids = {user_attr(oned_zmq, v, "GALERNA_LEASE_ID") for v in ids}
        assert len(lids) == 1
        lease = svc.core.leases[lids.pop()]
        assert lease.req.n_nodes == 3
        wait_until(lambda: all(vm(oned_zmq, v).state == VmState.ACTIVE for v in ids), what="all three running")
        late = one.vm.allocate(template("now", "00:00:20", ', GROUP = "mpi"', name="late"), False)
        wait_until(lambda: user_attr(oned_zmq, late, "SCHED_MESSAGE"), what="the late member refused")
        assert "GROUP mpi already runs as Galerna lease" in user_attr(oned_zmq, late, "SCHED_MESSAGE")


def test_restart_rebuilds_leases_and_never_deploys_twice(oned_zmq, one, tmp_path):
    calls = []
    oned_zmq.model.api_listeners.append(lambda call: calls.append(call.method))
    with Daemon(oned_zmq, tmp_path):
        vid = one.vm.allocate(template("now", "00:05:00"), False)
        wait_until(lambda: vm(oned_zmq, vid).state == VmState.ACTIVE and vm(oned_zmq, vid).lcm_state == Lcm.RUNNING,
             what="running")
        lid = user_attr(oned_zmq, vid, "GALERNA_LEASE_ID")
    assert calls.count("one.vm.deploy") == 1
    with Daemon(oned_zmq, tmp_path) as svc:
        time.sleep(2.0)  # start-up reconcile, a full pool read and events have all been through
        assert svc.reconciled and {v for _, v, _ in svc.reconciled} == {"adopt"}
        assert lid in svc.core.leases and not svc.core.leases[lid].state.final
        assert vm(oned_zmq, vid).state == VmState.ACTIVE and vm(oned_zmq, vid).lcm_state == Lcm.RUNNING
        lids = {lease for lease, x in svc.core.leases.items()
                if x.req.extra.get("name", "").startswith(f"opennebula:{vid}:")}
        assert lids == {lid}  # not submitted again
    assert calls.count("one.vm.deploy") == 1


def test_vm_terminated_in_opennebula_cancels_its_lease(oned_zmq, one, tmp_path):
    with Daemon(oned_zmq, tmp_path) as svc:
        vid = one.vm.allocate(template("now", "00:05:00"), False)
        wait_until(lambda: vm(oned_zmq, vid).state == VmState.ACTIVE and vm(oned_zmq, vid).lcm_state == Lcm.RUNNING,
             what="running")
        lid = user_attr(oned_zmq, vid, "GALERNA_LEASE_ID")
        one.vm.action("terminate-hard", vid)
        wait_until(lambda: svc.core.leases.get(lid) is None or svc.core.leases[lid].state.final, what="lease cancelled")


def test_an_api_lease_is_refused_so_none_can_claim_an_opennebula_vm_by_its_name(oned_zmq, one, tmp_path):
    """A lease from Galerna's own API has no OpenNebula VM: it is refused (not accepted, then failed at its deploy),
    so none can take an OpenNebula VM's name either; the mode's own submits still go through."""
    with Daemon(oned_zmq, tmp_path) as svc:
        vid = one.vm.allocate(template("+01:00:00", "00:10:00"), False)
        wait_until(lambda: user_attr(oned_zmq, vid, "GALERNA_LEASE_ID"), what="the AR's lease")
        real = svc.core.leases[user_attr(oned_zmq, vid, "GALERNA_LEASE_ID")].req.extra["name"]
        for name in (f"opennebula:{vid}", f"opennebula:{vid}:0123456789abcdef", None):
            with pytest.raises(Refused) as e:
                svc.submit(type="im", duration=60.0, nodes=[{"cpu": 1.0, "memory": 256.0}], tenant="mallory",
                           name=name).result(10)
            assert e.value.kind is ErrorKind.CONFLICT and "one.vm.allocate" in e.value.reason
        assert list(svc.core.leases) == [user_attr(oned_zmq, vid, "GALERNA_LEASE_ID")]  # nothing else queued
        known = svc.sink.known_leases()
        assert known == {user_attr(oned_zmq, vid, "GALERNA_LEASE_ID"): (vid,)} and real.count(":") == 2
        time.sleep(1.0)
        assert vm(oned_zmq, vid).state == VmState.PENDING  # the AR's VM was not deployed for mallory


def test_an_ar_preempts_a_best_effort_lease_by_stop_which_frees_the_host(oned_zmq, one, tmp_path):
    """node1 and node2 have 2 cores each; the BE lease takes both hosts' cores, so the AR can only start once the
    BE VMs are stopped (a SUSPENDED VM would keep its capacity and the AR's enforced deploy would fail)."""
    with Daemon(oned_zmq, tmp_path) as svc:
        be = [one.vm.allocate('NAME = "be"\nCPU = 2\nMEMORY = 64\n'
                              'HAIZEA = [ START = "best_effort", DURATION = "00:10:00", PREEMPTIBLE = "yes", '
                              'GROUP = "be" ]\n', False) for _ in range(2)]
        wait_until(lambda: all(vm(oned_zmq, v).state == VmState.ACTIVE and vm(oned_zmq, v).lcm_state == Lcm.RUNNING
                         for v in be), timeout=30, what="the BE lease running")
        ar = one.vm.allocate('NAME = "ar"\nCPU = 2\nMEMORY = 64\n'
                             'HAIZEA = [ START = "+00:00:12", DURATION = "00:00:05", PREEMPTIBLE = "no" ]\n', False)
        wait_until(lambda: vm(oned_zmq, ar).state == VmState.ACTIVE, timeout=40, what="the AR deployed")
        stopped = [v for v in be if vm(oned_zmq, v).state == VmState.STOPPED]
        assert stopped  # freed by stop, not suspend
        with oned_zmq.model.lock:
            host = oned_zmq.model.hosts[vm(oned_zmq, ar).last_history.hid]
            assert host.cpu_usage == 200  # only the AR holds that host's capacity
        # after the AR, the BE lease resumes: deployed again from STOPPED
        wait_until(lambda: all(vm(oned_zmq, v).state == VmState.ACTIVE for v in be), timeout=60, what="the BE resumed")


def test_vms_left_unknown_by_a_host_outage_are_recovered_in_place(oned_zmq, one, tmp_path):
    en = EnactmentConfig(data_dir="", recovery=RecoveryConfig(grace_period=1, reconcile_interval=0.5))
    with Daemon(oned_zmq, tmp_path, enactment=en) as svc:
        vid = one.vm.allocate(template("now", "00:05:00"), False)
        wait_until(lambda: vm(oned_zmq, vid).state == VmState.ACTIVE and vm(oned_zmq, vid).lcm_state == Lcm.RUNNING,
             what="running")
        with oned_zmq.model.lock:
            hid = vm(oned_zmq, vid).last_history.hid
        oned_zmq.host_error(hid)
        assert vm(oned_zmq, vid).lcm_state == Lcm.UNKNOWN
        uri = f"opennebula:{hid}"
        wait_until(lambda: svc.executor.inventory.hosts.get(uri) is HostState.ERROR, what="Galerna sees the host lost")
        with oned_zmq.model.lock:
            oned_zmq.model.set_host_state(oned_zmq.model.hosts[hid], 2)  # monitored again; the VM still UNKNOWN
        wait_until(lambda: vm(oned_zmq, vid).lcm_state == Lcm.RUNNING, timeout=30, what="the VM booted again in place")
        with oned_zmq.model.lock:
            assert vm(oned_zmq, vid).last_history.hid == hid


def test_a_boot_failure_is_retried_and_the_lease_runs(oned_zmq, one, tmp_path):
    calls = []
    oned_zmq.model.api_listeners.append(lambda call: calls.append(call.method))
    oned_zmq.fail_next_deploy(0)
    oned_zmq.fail_next_deploy(1)
    with Daemon(oned_zmq, tmp_path):
        vid = one.vm.allocate(template("now", "00:05:00"), False)
        wait_until(lambda: vm(oned_zmq, vid).state == VmState.ACTIVE and vm(oned_zmq, vid).lcm_state == Lcm.RUNNING,
             timeout=30, what="running after the boot failure")
    assert "one.vm.recover" in calls and calls.count("one.vm.deploy") == 1


def test_a_host_with_fractional_max_cpu_is_planned_with_its_fractional_cores(oned_zmq, tmp_path):
    """MAX_CPU = 150 is 1.5 cores, not 1: two VMs of CPU = 0.75 both run on it, at once."""
    oned_zmq.add_host("half", 1.5, 2048)
    one = pyone.OneServer(oned_zmq.url, session=oned_zmq.session)
    with Daemon(oned_zmq, tmp_path) as svc:
        assert svc.core.site.hosts[0].capacity == {"cpu": 1.5, "memory": 2048.0}
        ids = [one.vm.allocate(f'NAME = "q{i}"\nCPU = 0.75\nMEMORY = 256\n'
                               'HAIZEA = [ START = "now", DURATION = "00:05:00", PREEMPTIBLE = "no" ]\n', False)
               for i in range(2)]
        wait_until(lambda: all(vm(oned_zmq, v).state == VmState.ACTIVE and vm(oned_zmq, v).lcm_state == Lcm.RUNNING
                               for v in ids), what="both VMs running on the 1.5-core host")
        with oned_zmq.model.lock:
            assert oned_zmq.model.hosts[0].cpu_usage == 150


def test_galerna_tenant_is_checked_against_the_owner_and_a_forbidden_one_is_refused_on_the_vm(oned_zmq, one,
                                                                                             tmp_path):
    oned_zmq.model.add_user("alice", "pw")  # group "users"
    alice = pyone.OneServer(oned_zmq.url, session="alice:pw")
    vec = 'GALERNA = [ START = "best_effort", DURATION = "00:05:00", TENANT = "{}" ]\n'
    with Daemon(oned_zmq, tmp_path, tenants={"user:alice": ["physics"], "group:users": ["shared"]}) as svc:
        ok = alice.vm.allocate('NAME = "ok"\nCPU = 1\nMEMORY = 256\n' + vec.format("shared"), False)
        bad = alice.vm.allocate('NAME = "bad"\nCPU = 1\nMEMORY = 256\n' + vec.format("finance"), False)
        wait_until(lambda: user_attr(oned_zmq, ok, "GALERNA_LEASE_ID") and user_attr(oned_zmq, bad, "SCHED_MESSAGE"),
                   what="one lease and one refusal")
        assert svc.core.leases[user_attr(oned_zmq, ok, "GALERNA_LEASE_ID")].req.tenant == "shared"
        assert "may not use tenant 'finance'; allowed: physics, shared" in user_attr(oned_zmq, bad, "SCHED_MESSAGE")
        assert user_attr(oned_zmq, bad, "GALERNA_LEASE_ID") in (None, "")
        assert vm(oned_zmq, bad).state == VmState.PENDING  # a best-effort VM is refused, not held
