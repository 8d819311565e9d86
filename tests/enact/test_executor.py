"""The executor: plans through the gate, retries, timeouts, final failures reported, injected faults."""
from __future__ import annotations

import time

import pytest

from conftest import fast_config, make_hosts
from galerna.enact.config import FailureOutcome, FailurePolicy
from galerna.enact.driver import OperationKind as Op, VMSpec, VMState
from galerna.enact.executor import Action, Executor, Status
from galerna.enact.faults import FaultyDriver
from galerna.enact.simulated import SimulatedDriver, simulated_move


def specs(n, lease="l"):
    return [VMSpec(f"galerna-{lease}{i}-0", 1, 64, lease_id=f"{lease}{i}") for i in range(n)]


@pytest.fixture
def faulty(tmp_path):
    drivers = {u: FaultyDriver(d) for u, d in make_hosts(tmp_path, 2).items()}
    yield drivers
    for d in drivers.values():
        d.close()


def executor(drivers, tmp_path, **kw):
    cfg = fast_config(tmp_path, **kw.pop("gate", {}))
    for k, v in kw.items():
        setattr(cfg, k, v)
    return Executor(drivers, config=cfg, seed=1)


def test_plan_runs_serially_per_host_in_parallel_across(faulty, tmp_path):
    a, b = faulty
    for d in faulty.values():
        d.latency(0.01)
    ex = executor(faulty, tmp_path)
    vms = specs(8)
    results = ex.run_plan([Action.deploy(s, a if i % 2 else b) for i, s in enumerate(vms)])
    assert all(r.ok for r in results)
    assert faulty[a].max_active == 1 and faulty[b].max_active == 1
    assert len(faulty[a].inner.list()) == 4 and len(faulty[b].inner.list()) == 4
    assert all(ex.inventory.get(s.name).observed is VMState.RUNNING for s in vms)
    ex.close()


def test_parallel_limit_k(faulty, tmp_path):
    a, _ = faulty
    faulty[a].latency(0.02)
    ex = executor(faulty, tmp_path, gate={"per_host": 3})
    assert all(r.ok for r in ex.run_plan([Action.deploy(s, a) for s in specs(9)]))
    assert faulty[a].max_active == 3
    ex.close()


def test_transient_failure_is_retried(faulty, tmp_path):
    a, _ = faulty
    s = specs(1)[0]
    faulty[a].fail(Op.DEPLOY, s.name, times=2, message="libvirtd busy")
    ex = executor(faulty, tmp_path)
    r = ex.submit(Action.deploy(s, a)).result(10)
    assert r.ok and r.attempts == 3
    assert faulty[a].inner.inspect(s.name).state is VMState.RUNNING
    ex.close()


def test_failing_op_goes_to_the_back_and_does_not_starve_others(faulty, tmp_path):
    a, _ = faulty
    d = faulty[a]
    d.latency(0.01)
    y1, x, *ys = specs(6)
    d.fail(Op.DEPLOY, x.name, times=None, message="disk full")
    ex = executor(faulty, tmp_path)
    results = ex.run_plan([Action.deploy(s, a) for s in [y1, x, *ys]])
    rx = results[1]
    assert rx.status is Status.FAILED and rx.attempts == 3
    assert rx.error == "disk full"
    assert all(r.ok for i, r in enumerate(results) if i != 1)
    deploys = [vm for op, vm in d.calls if op is Op.DEPLOY]
    first_x, second_x = [i for i, vm in enumerate(deploys) if vm == x.name][:2]
    assert any(vm != x.name for vm in deploys[first_x + 1:second_x])  # others went in between
    assert d.max_active == 1
    ex.close()


def test_hung_deploy_times_out_and_the_vm_is_never_started_twice(faulty, tmp_path):
    a, _ = faulty
    s = specs(1)[0]
    rule = faulty[a].hang(Op.DEPLOY, s.name, times=1, max_s=10)
    ex = executor(faulty, tmp_path)
    ex.config.retry.timeouts[Op.DEPLOY] = 0.2
    r = ex.submit(Action.deploy(s, a)).result(10)
    assert r.ok and r.attempts == 2  # first try timed out, second deployed
    rule.release.set()  # the hung call now goes through too...
    time.sleep(0.2)
    running = [v for v in faulty[a].inner.list() if v.name == s.name]
    assert len(running) == 1 and running[0].state is VMState.RUNNING  # ...and finds it running
    ex.close()


@pytest.mark.parametrize("policy", list(FailureOutcome))
def test_a_final_failure_is_reported_once_whatever_the_policy(faulty, tmp_path, policy):
    """The executor reports the failure with the hypervisor's message; what it does to the lease is the daemon's
    (galerna.daemon.enactment.fate), so the report is the same under every policy and the VM is not redeployed."""
    a, b = faulty
    s = specs(1)[0]
    faulty[a].fail(Op.DEPLOY, s.name, times=None, message="no space left on device", transient=False)
    seen = []
    ex = executor(faulty, tmp_path, failure=FailurePolicy(deploy=policy))
    ex.on_result = seen.append
    r = ex.submit(Action.deploy(s, a)).result(10)
    assert r.status is Status.FAILED and r.attempts == 1  # permanent: no retry
    assert r.error == "no space left on device"
    assert seen == [r]
    time.sleep(0.2)
    assert not ex.busy(s.name) and ex.inventory.get(s.name) is None  # nothing follows, on any host
    assert faulty[b].inner.inspect(s.name).state is VMState.ABSENT
    ex.close()


def test_actions_of_a_vm_run_in_order_and_skip_after_failure(faulty, tmp_path):
    a, b = faulty
    ok, bad = specs(2)
    faulty[a].fail(Op.DEPLOY, bad.name, times=None, transient=False)
    ex = executor(faulty, tmp_path)
    plan = [
        Action.deploy(ok, a), Action(Op.SUSPEND, ok.name, a), Action(Op.MIGRATE, ok.name, a, dest=b),
        Action(Op.PAUSE, ok.name, b),
        Action.deploy(bad, a), Action(Op.SUSPEND, bad.name, a),
    ]
    r = ex.run_plan(plan, timeout=20)
    assert [x.status for x in r] == [Status.OK] * 4 + [Status.FAILED, Status.SKIPPED]
    assert faulty[b].inner.inspect(ok.name).state is VMState.PAUSED
    assert ex.inventory.get(ok.name).host == b
    ex.close()


def test_simulated_driver_checks_capacity_and_migrates(tmp_path):
    a, b = SimulatedDriver("sim://a", cpus=2, memory_mb=256, state_dir=tmp_path), SimulatedDriver("sim://b", state_dir=tmp_path)
    ex = Executor({a.uri: a, b.uri: b}, config=fast_config(tmp_path), mover=simulated_move)
    big = [VMSpec(f"galerna-s{i}-0", 1, 128) for i in range(3)]
    r = ex.run_plan([Action.deploy(s, a.uri) for s in big])
    assert [x.ok for x in r] == [True, True, False]
    assert "capacity" in r[2].error
    r = ex.run_plan([Action(Op.SUSPEND, big[0].name, a.uri), Action(Op.MIGRATE, big[0].name, a.uri, dest=b.uri)])
    assert all(x.ok for x in r)
    assert b.inspect(big[0].name).state is VMState.RUNNING and a.inspect(big[0].name).state is VMState.ABSENT
    ex.close()
