"""Reconciliation after a daemon restart: adopt, restart, clean up, never twice."""
from __future__ import annotations

from conftest import fast_config, make_hosts
from galerna.enact.driver import HostState, VMSpec, VMState
from galerna.enact.executor import Executor
from galerna.enact.faults import FaultyDriver
from galerna.enact.inventory import Desired
from galerna.enact.reconcile import Expected, Verdict, reconcile


def vm(lease, i=0):
    return VMSpec(f"galerna-{lease}-{i}", 1, 64, lease_id=lease, index=i)


def test_reconcile_after_restart(tmp_path):
    drivers = {u: FaultyDriver(d) for u, d in make_hosts(tmp_path, 3).items()}
    a, b, c = drivers
    A, B, C = (drivers[u].inner for u in (a, b, c))
    adopt, moved, restart, restore, suspend, stop, dup, orphan, unknown, missing = (
        vm(x) for x in ("adopt", "moved", "restart", "restore", "suspend", "stop", "dup", "orphan", "unknown", "missing"))
    # what the hypervisors really run when the daemon comes back
    A.deploy(adopt)
    B.deploy(moved)  # the database still says host A
    A.deploy(restore)
    A.suspend(restore.name)  # saved, should run
    A.deploy(suspend)  # should be suspended
    A.deploy(stop)  # its lease ended
    A.deploy(dup)
    B.deploy(dup)  # runs twice
    B.deploy(orphan)  # no database row
    C.deploy(unknown)
    B.connection.createXML("<domain type='test'><name>not-ours</name><memory>65536</memory><os><type>hvm</type></os>"
                           "</domain>", 0)
    drivers[c].down()  # host C does not answer
    expected = [
        Expected(adopt, a), Expected(moved, a), Expected(restart, a), Expected(restore, a),
        Expected(suspend, a, Desired.SUSPENDED), Expected(stop, a, Desired.ABSENT), Expected(dup, a),
        Expected(unknown, c), Expected(missing, a, Desired.SUSPENDED),
    ]
    ex = Executor(drivers, config=fast_config(tmp_path))  # a fresh daemon: empty inventory
    entries = reconcile(expected, ex, timeout=30)
    verdicts = {(e.vm, e.verdict, e.host) for e in entries}
    assert verdicts == {
        (adopt.name, Verdict.ADOPT, a),
        (moved.name, Verdict.MOVED, b),
        (restart.name, Verdict.RESTART, a),
        (restore.name, Verdict.RESTORE, a),
        (suspend.name, Verdict.SUSPEND, a),
        (stop.name, Verdict.STOP, a),
        (dup.name, Verdict.ADOPT, a),
        (dup.name, Verdict.DESTROY_DUPLICATE, b),
        (orphan.name, Verdict.CLEANUP_ORPHAN, b),
        (unknown.name, Verdict.UNKNOWN, c),
        (missing.name, Verdict.MISSING, a),
    }
    assert all(e.ok for e in entries)
    st = lambda d, s: d.inspect(s.name).state  # noqa: E731
    assert st(A, adopt) is st(B, moved) is st(A, restart) is st(A, restore) is VMState.RUNNING
    assert st(A, suspend) is VMState.SUSPENDED
    assert st(A, stop) is st(B, dup) is st(B, orphan) is VMState.ABSENT
    assert st(A, dup) is VMState.RUNNING
    assert st(B, moved) is VMState.RUNNING and st(A, moved) is VMState.ABSENT
    assert B.inspect("not-ours").state is VMState.RUNNING  # never touch what is not Galerna's
    assert st(C, unknown) is VMState.RUNNING  # untouched, and started nowhere else
    assert all(st(d, unknown) is VMState.ABSENT for d in (A, B))
    # every running Galerna VM runs exactly once
    names = [v.name for d in (A, B, C) for v in d.list() if v.state is VMState.RUNNING and v.name != "not-ours"]
    assert len(names) == len(set(names))
    inv = ex.inventory
    assert inv.get(moved.name).host == b
    assert inv.get(unknown.name).observed is VMState.UNKNOWN and inv.hosts[c] is HostState.ERROR
    assert inv.get(restart.name).observed is VMState.RUNNING
    ex.close()


def test_reconcile_twice_changes_nothing(tmp_path):
    drivers = make_hosts(tmp_path, 2)
    a, b = drivers
    drivers[a].deploy(vm("x"))
    expected = [Expected(vm("x"), a), Expected(vm("y"), b)]
    ex = Executor(drivers, config=fast_config(tmp_path))
    first = {(e.vm, e.verdict) for e in reconcile(expected, ex)}
    assert first == {("galerna-x-0", Verdict.ADOPT), ("galerna-y-0", Verdict.RESTART)}
    ex2 = Executor(drivers, config=fast_config(tmp_path))
    second = {(e.vm, e.verdict) for e in reconcile(expected, ex2)}
    assert second == {("galerna-x-0", Verdict.ADOPT), ("galerna-y-0", Verdict.ADOPT)}
    ex.close()
    ex2.close()


def test_orphans_can_be_kept(tmp_path):
    drivers = make_hosts(tmp_path, 1)
    (a,) = drivers
    drivers[a].deploy(vm("o"))
    ex = Executor(drivers, config=fast_config(tmp_path))
    entries = reconcile([], ex, orphans="keep")
    assert [(e.vm, e.verdict) for e in entries] == [("galerna-o-0", Verdict.KEEP_ORPHAN)]
    assert drivers[a].inspect("galerna-o-0").state is VMState.RUNNING
    ex.close()
