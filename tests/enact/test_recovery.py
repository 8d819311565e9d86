"""Monitoring, host outages and recovery, on test-driver hosts behind a fault-injecting wrapper."""
from __future__ import annotations


import pytest
from helpers import poll

from conftest import fast_config, make_hosts
from galerna.enact.config import RecoveryConfig, RecoveryMode
from galerna.enact.driver import HostState, OperationKind as Op, VMSpec, VMState
from galerna.enact.executor import Action, Executor
from galerna.enact.faults import FaultyDriver
from galerna.enact.monitor import Monitor
from galerna.enact.recovery import RecoveryManager, Step


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


class Sched:
    """A scheduler stand-in: places VMs on the hosts it is told (it alone knows the ARs)."""

    def __init__(self, target):
        self.target, self.calls = target, []

    def reschedule(self, lease_id, vms, avoid, reason):
        self.calls.append((lease_id, sorted(v.name for v in vms), list(avoid)))
        if self.target is None:
            return None
        return {v.name: self.target for v in vms}


@pytest.fixture
def cluster(tmp_path):
    drivers = {u: FaultyDriver(d) for u, d in make_hosts(tmp_path, 3).items()}
    ex = Executor(drivers, config=fast_config(tmp_path), seed=1)
    mon = Monitor(drivers, ex.inventory, poll_timeout=2)
    yield drivers, ex, mon
    ex.close()
    for d in drivers.values():
        d.close()


def wait(pred, timeout=10):
    return poll(pred, timeout, 0.02)


def deploy(ex, uri, n, lease="l"):
    vms = [VMSpec(f"galerna-{lease}-{i}", 1, 64, lease_id=lease, index=i) for i in range(n)]
    assert all(r.ok for r in ex.run_plan([Action.deploy(s, uri) for s in vms]))
    return vms


def running_on(driver, name):
    return driver.inner.inspect(name).state is VMState.RUNNING


def test_lost_connection_marks_host_error_and_vms_unknown(cluster):
    drivers, ex, mon = cluster
    a, b, _ = drivers
    vms = deploy(ex, a, 2)
    changes = []
    mon.on_host_change(lambda uri, old, new: changes.append((uri, new)))
    drivers[a].down()
    mon.poll()
    assert ex.inventory.hosts[a] is HostState.ERROR and ex.inventory.hosts[b] is HostState.UP
    assert {ex.inventory.get(s.name).observed for s in vms} == {VMState.UNKNOWN}
    drivers[a].down(False)
    mon.poll()
    assert ex.inventory.hosts[a] is HostState.UP
    assert {ex.inventory.get(s.name).observed for s in vms} == {VMState.RUNNING}
    assert changes == [(a, HostState.ERROR), (a, HostState.UP)]


def test_hung_host_is_an_error_too(cluster):
    drivers, ex, mon = cluster
    a, _, _ = drivers
    rule = drivers[a].hang(Op.LIST, times=1, max_s=5)
    mon.poll_timeout = 0.2
    mon.poll()
    assert ex.inventory.hosts[a] is HostState.ERROR
    rule.release.set()


def test_lifecycle_events_update_observed_state(cluster):
    drivers, ex, mon = cluster
    a, _, _ = drivers
    (s,) = deploy(ex, a, 1)
    mon.start()
    try:
        drivers[a].inner.connection.lookupByName(s.name).suspend()  # paused behind Galerna's back
        assert wait(lambda: ex.inventory.get(s.name).observed is VMState.PAUSED)
        drivers[a].inner.connection.lookupByName(s.name).destroy()
        assert wait(lambda: ex.inventory.get(s.name).observed is VMState.SHUTOFF)
    finally:
        mon.stop()


def test_power_outage_restarts_vms_in_place_after_grace(cluster):
    drivers, ex, mon = cluster
    a, _, _ = drivers
    vms = deploy(ex, a, 3)
    clock = Clock()
    rec = RecoveryManager(drivers, ex.inventory, ex, RecoveryConfig(mode=RecoveryMode.RESTART_IN_PLACE, grace_period=60),
                          clock=clock)
    mon.on_host_change(rec.host_changed)
    drivers[a].down()
    mon.poll()
    for s in vms:  # the outage: every VM on the host is gone
        drivers[a].inner.destroy(s.name)
    clock.t += 3600
    assert rec.tick() == []  # still down: restart-in-place waits for the host
    drivers[a].down(False)
    mon.poll()
    assert {ex.inventory.get(s.name).observed for s in vms} == {VMState.ABSENT}
    assert rec.tick() == []  # the host is back, but the grace period starts now
    clock.t += 61
    events = rec.tick()
    assert sorted(e.vm for e in events) == sorted(s.name for s in vms)
    assert {e.step for e in events} == {Step.RESTART_IN_PLACE}
    assert wait(lambda: all(running_on(drivers[a], s.name) for s in vms))
    assert rec.tick() == []  # nothing twice
    mon.poll()
    assert {ex.inventory.get(s.name).observed for s in vms} == {VMState.RUNNING}


def test_suspended_vm_restores_in_place(cluster):
    drivers, ex, mon = cluster
    a, _, _ = drivers
    (s,) = deploy(ex, a, 1)
    clock = Clock()
    rec = RecoveryManager(drivers, ex.inventory, ex, RecoveryConfig(grace_period=10), clock=clock)
    mon.on_host_change(rec.host_changed)
    # crash during a suspend: memory was saved, but the VM should run
    drivers[a].inner.suspend(s.name)
    mon.poll()
    assert ex.inventory.get(s.name).observed is VMState.SUSPENDED
    assert rec.tick() == []  # grace period
    clock.t += 11
    assert [e.step for e in rec.tick()] == [Step.RESTORE_IN_PLACE]
    assert wait(lambda: running_on(drivers[a], s.name))


def test_reschedule_fences_then_moves_vms_and_kills_stale_copies(cluster, tmp_path):
    drivers, ex, mon = cluster
    a, b, _ = drivers
    vms = deploy(ex, a, 2)
    clock = Clock()
    fenced = []
    sched = Sched(b)
    rec = RecoveryManager(drivers, ex.inventory, ex,
                          RecoveryConfig(mode=RecoveryMode.RESCHEDULE, grace_period=30),
                          rescheduler=sched, fencer=lambda uri, t: (fenced.append(uri), (True, "ok"))[1], clock=clock)
    mon.on_host_change(rec.host_changed)
    drivers[a].down()
    mon.poll()
    clock.t += 10
    assert rec.tick() == [] and fenced == []  # within the grace period
    clock.t += 25
    events = rec.tick()
    assert fenced == [a]
    assert {e.step for e in events} == {Step.RESCHEDULED} and {e.target for e in events} == {b}
    assert sched.calls == [("l", sorted(s.name for s in vms), [a])]  # a lease's VMs move together
    assert wait(lambda: all(running_on(drivers[b], s.name) for s in vms))
    # the old host comes back still running the old copies (no real fencing here): they are destroyed
    drivers[a].down(False)
    mon.poll()
    stale = rec.tick(mon.seen)
    assert {e.step for e in stale} == {Step.DESTROY_STALE}
    assert wait(lambda: not any(running_on(drivers[a], s.name) for s in vms))
    assert all(running_on(drivers[b], s.name) for s in vms)
    assert {ex.inventory.get(s.name).host for s in vms} == {b}


def test_failed_fencing_blocks_rescheduling(cluster, tmp_path):
    drivers, ex, mon = cluster
    a, b, _ = drivers
    vms = deploy(ex, a, 1)
    clock = Clock()
    sched = Sched(b)
    rec = RecoveryManager(drivers, ex.inventory, ex,
                          RecoveryConfig(mode=RecoveryMode.RESCHEDULE, grace_period=0, fencing_command="false"),
                          rescheduler=sched, clock=clock)
    mon.on_host_change(rec.host_changed)
    drivers[a].down()
    mon.poll()
    clock.t += 1
    assert [e.step for e in rec.tick()] == [Step.FENCING_FAILED]
    assert sched.calls == [] and not running_on(drivers[b], vms[0].name)


def test_fencing_command_gets_the_host(tmp_path):
    from galerna.enact.recovery import run_fencing_command

    out = tmp_path / "fenced"
    ok, _ = run_fencing_command(f"sh -c 'echo {{host}} {{uri}} > {out}'")("qemu+ssh://node7/system", 5)
    assert ok and out.read_text().split() == ["node7", "qemu+ssh://node7/system"]
    assert run_fencing_command("false")("qemu:///system", 5)[0] is False


def test_no_placement_means_requeue(cluster):
    drivers, ex, mon = cluster
    a, _, _ = drivers
    vms = deploy(ex, a, 1)
    clock = Clock()
    seen = []
    rec = RecoveryManager(drivers, ex.inventory, ex, RecoveryConfig(mode=RecoveryMode.RESCHEDULE, grace_period=0),
                          rescheduler=Sched(None), fencer=lambda u, t: (True, ""), clock=clock, on_event=seen.append)
    mon.on_host_change(rec.host_changed)
    drivers[a].down()
    mon.poll()
    clock.t += 1
    assert [(e.step, e.lease_id) for e in rec.tick()] == [(Step.REQUEUE, "l")]
    assert seen and seen[0].step is Step.REQUEUE
    # the host returns with the abandoned VM still running: it is removed
    drivers[a].down(False)
    mon.poll()
    rec.tick(mon.seen)
    assert wait(lambda: not running_on(drivers[a], vms[0].name))


def test_manual_mode_only_observes(cluster):
    drivers, ex, mon = cluster
    a, _, _ = drivers
    (s,) = deploy(ex, a, 1)
    clock = Clock()
    rec = RecoveryManager(drivers, ex.inventory, ex, RecoveryConfig(mode=RecoveryMode.MANUAL, grace_period=0), clock=clock)
    drivers[a].inner.destroy(s.name)
    mon.poll()
    clock.t += 100
    assert rec.tick() == []
    assert ex.inventory.get(s.name).observed is VMState.ABSENT
