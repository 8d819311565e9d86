"""What the daemon's core keeps across a restart (rebuilt from the database), in process without hypervisors."""
from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path

from galerna.config.load import validate
from galerna.daemon import ops
from galerna.daemon.service import Service
from galerna.daemon.settings import DaemonConfig, Settings
from galerna.enact.driver import OperationKind as Op
from galerna.enact.executor import Action, ActionResult, Status
from galerna.store.db import Store
from galerna.store.models import LeaseRow


def settings(tmp: Path, nodes: int = 2) -> Settings:
    return Settings(daemon=DaemonConfig(enact=False, db=f"sqlite:///{tmp / 'g.db'}", data_dir=str(tmp)),
                    config=validate({"site": {"nodes": nodes, "cpu": 1, "memory": 1024},
                                     "scheduling": {"backfilling": "off"}}, tmp / "x.toml"))  # queued, not reserved


def open_service(st: Settings) -> Service:
    """What Service.start does up to the loop: the core rebuilt from the database (the thread is not started; the
    test hands batches to ``_batch`` itself)."""
    svc = Service(Store(st.daemon.db), st)
    svc.load()
    return svc


def do(svc: Service, kind: type[ops.Op], **args):
    op = ops.checked(kind, args, Future())
    svc._batch([op])
    return op.future.result()


def submit(svc: Service, cpu: float = 1.0) -> dict:
    return do(svc, ops.Submit, type="be", duration=3600, nodes=[{"cpu": cpu, "memory": 64}], start=None,
              deadline=None, preemptible=True, name=None, image=None, tenant="t")


def fail_deploy(svc: Service, lease_id: str, host: str) -> None:
    """The hypervisor reports that the lease's VM could not be deployed on ``host`` (policy: reschedule)."""
    a = Action(Op.DEPLOY, f"galerna-{lease_id}-0", host, lease_id=lease_id, tenant="t")
    svc._batch([ops.Result(ActionResult(a, Status.FAILED, error="no such device"))])


def set_placeable(svc: Service, host: str, admin_state: str, health: str) -> bool:
    return svc.hosts.set_placeable(svc.core, host, admin_state, health, svc.to_core(svc.clock()))


def state(svc: Service, lease_id: str) -> str:
    with svc.store.session() as s:
        return s.get(LeaseRow, int(lease_id)).state


def test_hosts_a_lease_must_avoid_survive_a_restart(tmp_path):
    st = settings(tmp_path)
    svc = open_service(st)
    blocker = submit(svc)
    lease = submit(svc)
    assert blocker["state"] == lease["state"] == "active"
    bad = lease["hosts"][0]
    other = blocker["hosts"][0]
    assert bad != other
    fail_deploy(svc, lease["id"], bad)
    # requeued: its own host is free but must be avoided, the other is taken
    assert state(svc, lease["id"]) == "queued"
    assert svc.core.leases[lease["id"]].avoid == {svc.names.index(bad)}
    svc.store.close()

    svc2 = open_service(st)  # a restart: the core is rebuilt from the snapshots
    restored = svc2.core.leases[lease["id"]]
    assert restored.avoid == {svc2.names.index(bad)}
    svc2._batch([])  # a round of the rebuilt core: the free host is the avoided one, so the lease keeps waiting
    assert state(svc2, lease["id"]) == "queued" and restored.hosts is None
    do(svc2, ops.Cancel, lease_id=blocker["id"])
    assert state(svc2, lease["id"]) == "active"
    assert [svc2.names[h] for h in svc2.core.leases[lease["id"]].hosts] == [other]
    with svc2.store.session() as s:
        assert s.get(LeaseRow, int(lease["id"])).core["avoid"] == [bad]
    svc2.store.close()


def test_an_avoided_host_that_was_removed_is_dropped_at_restart(tmp_path):
    st = settings(tmp_path, nodes=3)
    svc = open_service(st)
    leases = [submit(svc) for _ in range(3)]
    bad = leases[2]["hosts"][0]
    fail_deploy(svc, leases[2]["id"], bad)
    assert state(svc, leases[2]["id"]) == "queued"
    do(svc, ops.HostChange, action="disable", name=bad)
    do(svc, ops.HostChange, action="remove", name=bad)
    svc.store.close()
    svc2 = open_service(st)
    assert bad not in svc2.names
    assert svc2.core.leases[leases[2]["id"]].avoid == frozenset()
    svc2.store.close()


def test_a_host_in_error_at_rebuild_takes_no_placement_and_is_enabled_again_when_up(tmp_path):
    from galerna.store.models import HostRow

    st = settings(tmp_path)
    svc = open_service(st)
    with svc.store.session.begin() as s:
        s.get(HostRow, svc.names[0]).health = "error"  # as the host monitor leaves it
    svc.store.close()
    svc2 = open_service(st)
    assert svc2.core.slots.enabled == [False, True]
    first, second = submit(svc2), submit(svc2)
    assert first["hosts"] == [svc2.names[1]] and second["state"] == "queued"
    set_placeable(svc2, svc2.names[0], "up", "up")  # what a health change to up does
    svc2._batch([])
    assert state(svc2, second["id"]) == "active"
    assert [svc2.names[h] for h in svc2.core.leases[second["id"]].hosts] == [svc2.names[0]]
    set_placeable(svc2, svc2.names[0], "disabled", "up")  # an admin-disabled host stays out whatever its health
    assert svc2.core.slots.enabled == [False, True]
    svc2.store.close()


def test_a_removed_host_in_a_live_leases_history_does_not_break_the_rebuild(tmp_path):
    """A lease suspended on one host and resumed on another keeps the first in its history. Once it has left that
    host, the host may be removed (nothing runs or is planned there); the rebuild that follows, and every restart,
    must still read that history (it used to raise KeyError on the removed host's name, so the daemon would not
    start). The history keeps the removed host's name for the record."""
    clock = [1_700_000_000.0]
    st = settings(tmp_path, nodes=3)
    st.config.scheduling.migration = "yes-notransfer"

    def open_at() -> Service:
        svc = Service(Store(st.daemon.db), st, clock=lambda: clock[0])
        svc.load()  # the epoch is the first clock reading, a whole second: clock[0]
        return svc

    svc = open_at()
    t0 = clock[0]
    keep = do(svc, ops.Submit, type="be", duration=200, nodes=[{"cpu": 1, "memory": 64}], start=None, deadline=None,
              preemptible=False, name=None, image=None, tenant="t")
    lease = submit(svc)
    ar = do(svc, ops.Submit, type="ar", duration=500, nodes=[{"cpu": 1, "memory": 64}] * 2, start=t0 + 100,
            deadline=None, preemptible=False, name=None, image=None, tenant="t")
    assert ar["state"] == "scheduled"
    first = lease["hosts"][0]  # the AR takes it: the lease is suspended there
    for t in (t0 + 150, t0 + 250, t0 + 700):  # suspended; resumed on the host `keep` frees; the AR is over
        clock[0] = t
        svc._batch([])
    L = svc.core.leases[lease["id"]]
    assert L.state.value == "active" and [svc.names[h] for h in L.hosts] != [first]
    assert first in {svc.names[h] for p in L.history for h in p.hosts}
    now_on = [svc.names[h] for h in L.hosts]
    with svc.store.session() as s:
        row = s.get(LeaseRow, int(lease["id"]))
        before, start = row.core["history"], row.start
    do(svc, ops.HostChange, action="disable", name=first)
    assert do(svc, ops.HostChange, action="remove", name=first) == {"name": first, "removed": True}  # then a rebuild
    assert first not in svc.names
    svc.store.close()

    clock[0] = t0 + 800
    svc2 = open_at()  # a restart
    L2 = svc2.core.leases[lease["id"]]
    assert L2.state.value == "active" and [svc2.names[h] for h in L2.hosts] == now_on
    assert len(L2.history) < len(before)  # the core does not see the phases on the removed host
    clock[0] = t0 + 5000  # the lease ends: its snapshot is written again
    svc2._batch([])
    with svc2.store.session() as s:
        row = s.get(LeaseRow, int(lease["id"]))
        assert row.state == "done"
        history = row.core["history"]
        assert row.start == start
    assert history[:len(before)] == before  # the phases on the removed host kept, for the record, in their place
    assert first in {h for p in history for h in p["hosts"]}
    svc2.store.close()
