"""Deployment identity on the libvirt test driver: the stamp on a VM, and reconcile acting only on its own."""
from __future__ import annotations

from conftest import fast_config, make_hosts
from galerna.enact.driver import OperationKind as Op, VMSpec, VMState
from galerna.enact.executor import Action, Executor
from galerna.enact.inventory import Desired
from galerna.enact.reconcile import Expected, Verdict, reconcile

MINE, THEIRS = "a" * 32, "b" * 32


def vm(lease: str, deployment: str | None, i: int = 0) -> VMSpec:
    return VMSpec(f"galerna-{lease}-{i}", 1, 64, lease_id=lease, index=i, deployment=deployment)


def test_the_stamp_is_on_the_domain_and_read_back(hosts):
    d = next(iter(hosts.values()))
    d.deploy(vm("1", MINE))
    assert f'deployment="{MINE}"' in d.connection.lookupByName("galerna-1-0").XMLDesc(0)
    assert d.inspect("galerna-1-0").deployment == MINE
    assert [v.deployment for v in d.list()] == [MINE]


def test_reconcile_touches_only_its_own_deployment(tmp_path):
    drivers = make_hosts(tmp_path, 2)
    a, b = drivers
    A, B = drivers[a], drivers[b]
    A.deploy(vm("own-orphan", MINE))
    A.deploy(vm("their-orphan", THEIRS))
    A.deploy(vm("unstamped-orphan", None))  # a Galerna VM from before stamps, that this database does not know
    A.deploy(vm("legacy", None))  # one it does know: adopted by name
    B.deploy(vm("clash", THEIRS))  # another deployment's VM with the name of one of ours, where ours should be
    A.deploy(vm("stop-theirs", THEIRS))  # ours is over, the same name runs for them
    A.deploy(vm("legacy-over", None))  # an unstamped VM of a lease of ours that is over: stopped, as before stamps
    expected = [Expected(vm("legacy", MINE), a), Expected(vm("clash", MINE), b),
                Expected(vm("stop-theirs", MINE), a, Desired.ABSENT), Expected(vm("legacy-over", MINE), a, Desired.ABSENT)]
    ex = Executor(drivers, config=fast_config(tmp_path))
    ex.deployment = MINE
    entries = reconcile(expected, ex, timeout=30, deployment=MINE)
    got = {(e.vm, e.verdict, e.host, e.deployment) for e in entries}
    assert got == {
        ("galerna-own-orphan-0", Verdict.CLEANUP_ORPHAN, a, None),
        ("galerna-their-orphan-0", Verdict.FOREIGN, a, THEIRS),
        ("galerna-unstamped-orphan-0", Verdict.FOREIGN, a, None),
        ("galerna-legacy-0", Verdict.ADOPT, a, None),
        ("galerna-clash-0", Verdict.FOREIGN, b, THEIRS),
        ("galerna-stop-theirs-0", Verdict.FOREIGN, a, THEIRS),
        ("galerna-stop-theirs-0", Verdict.GONE, a, None),
        ("galerna-legacy-over-0", Verdict.STOP, a, None),
    }
    left = {v.name: v.deployment for d in (A, B) for v in d.list()}
    assert left == {"galerna-their-orphan-0": THEIRS, "galerna-unstamped-orphan-0": None, "galerna-legacy-0": None,
                    "galerna-clash-0": THEIRS, "galerna-stop-theirs-0": THEIRS}
    ex.close()


def test_executor_leaves_another_deployments_vm_alone(tmp_path):
    """A destroy or shutdown by name (a lease of ours ended) never removes a VM another deployment stamped."""
    drivers = make_hosts(tmp_path, 1)
    (u, d), = drivers.items()
    d.deploy(vm("7", THEIRS))
    ex = Executor(drivers, config=fast_config(tmp_path))
    ex.deployment = MINE
    for kind in (Op.DESTROY, Op.SHUTDOWN):
        r = ex.submit(Action(kind, "galerna-7-0", u, lease_id="7")).result(30)
        assert r.ok and d.inspect("galerna-7-0").state is VMState.RUNNING
    failed = ex.submit(Action.deploy(vm("7", MINE), u)).result(30)  # our lease 7 must not adopt it either
    assert not failed.ok and f"deployment {THEIRS}" in failed.error
    assert d.inspect("galerna-7-0").state is VMState.RUNNING  # nor clean it up after the refused deploy
    ex.deployment = THEIRS
    assert ex.submit(Action(Op.DESTROY, "galerna-7-0", u, lease_id="7")).result(30).ok
    assert d.inspect("galerna-7-0").state is VMState.ABSENT
    ex.close()
