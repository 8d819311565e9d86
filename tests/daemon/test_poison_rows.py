"""Issue 17 section 1: after a commit nothing may drop the batch's actions or misreport its answers, and listings
answer 200 whatever values the database holds (rows written here directly with SQLAlchemy, then a restart)."""
from __future__ import annotations

import time
from concurrent.futures import Future

import pytest

from galerna.daemon import ops
from galerna.daemon.service import Service
from galerna.daemon.settings import DaemonConfig, Settings
from galerna.store.db import Store
from galerna.store.models import LeaseRow, ReservationRow

pytestmark = pytest.mark.xdist_group("daemon-poison")

YEAR_9999 = 253_500_000_000.0  # an instant past what datetime can hold (after 9999-12-31)
HUGE = 360_000_000_000.0  # 100000000:00:00 in seconds


def _submit(name: str) -> ops.Submit:
    return ops.Submit(type="be", duration=3600, nodes=[{"cpu": 0.25, "memory": 16}], tenant="t", name=name,
                      future=Future())


def test_a_view_failing_after_the_commit_drops_no_action_and_misreports_no_answer(tmp_path, monkeypatch):
    settings = Settings(daemon=DaemonConfig(enact=False, db=f"sqlite:///{tmp_path / 'g.db'}", data_dir=str(tmp_path)))
    svc = Service(Store(settings.daemon.db), settings)
    svc.load()
    real_view = ops.lease_view

    def view(row):
        if row.get("name") == "poison":
            raise OverflowError("year 13434 is out of range")
        return real_view(row)

    monkeypatch.setattr(ops, "lease_view", view)
    committed, handed = [], []
    real_commit = svc.journal.commit

    def commit(*args):
        out = real_commit(*args)
        committed.append(out)
        return out + [(-1, "the batch's action")]

    monkeypatch.setattr(svc.journal, "commit", commit)
    monkeypatch.setattr(svc.enactment, "hand_over", lambda actions: handed.append(list(actions)))
    batch = [_submit("poison"), _submit("fine")]
    svc._batch(batch)
    assert committed and handed and (-1, "the batch's action") in handed[0]  # the actions reached the executor
    bad, good = (op.future.result(0) for op in batch)  # both answered, neither with an exception (a 503)
    with svc.store.session() as s:
        rows = {str(r.seq): r for r in s.query(LeaseRow)}
    assert set(rows) == {bad["id"], good["id"]}
    assert good["name"] == "fine" and good["state"] == rows[good["id"]].state and good["plan"]
    assert bad["state"] == rows[bad["id"]].state  # saved: answered as saved, with a reason that says what is missing
    assert "cannot be shown" in bad["reason"]
    svc.store.close()


def _poison_rows(db: str, now: float) -> tuple[int, ...]:
    """Rows no inlet admits any more, written straight into the database: an AR in year 9999 running 100,000,000
    hours (what XML-RPC once committed), NaN and infinite amounts, a control character, an unknown type, shapes that
    are not a request at all (one of them waiting, so the restart must rebuild around it)."""
    store = Store(db)
    with store.session.begin() as s:
        seq = max(s.query(LeaseRow.seq).all())[0]
        ar = LeaseRow(seq=seq + 1, tenant="alice", name="year 9999", type="ar", state="scheduled", reason="",
                      submitted=now, updated=now, start=YEAR_9999, end=YEAR_9999 + HUGE,
                      request={"type": "ar", "submit": now, "duration": HUGE, "nodes": [{"cpu": 1.0, "memory": 16.0}],
                               "start": YEAR_9999, "deadline": None, "preemptible": False, "image": None,
                               "tenant": "alice", "extra": {}},
                      core={"phases": [{"activity": "run", "start": YEAR_9999, "end": YEAR_9999 + HUGE,
                                        "hosts": ["test1"]}], "history": [], "hosts": ["test1"]})
        nan = LeaseRow(seq=seq + 2, tenant="alice", name="\x1b[2J", type="be", state="rejected", reason="",
                       submitted=now, updated=now, start=None, end=None,
                       request={"duration": float("nan"), "nodes": [{"cpu": float("inf"), "memory": 1.0}]}, core={})
        junk = LeaseRow(seq=seq + 3, tenant="alice", name=None, type="zz", state="done", reason="", submitted=1e300,
                        updated=now, start=None, end=None, request={"nodes": "not a list"}, core={"phases": 7})
        waiting = LeaseRow(seq=seq + 4, tenant="alice", name=None, type="be", state="queued", reason="",
                           submitted=now, updated=now, start=None, end=None, request={"nodes": "x"}, core={})
        s.add_all([ar, nan, junk, waiting])
        s.flush()
        s.add(ReservationRow(lease_seq=seq + 1, activity="run", start=YEAR_9999, end=YEAR_9999 + HUGE,
                             hosts=["test1"]))
    store.close()
    return seq + 1, seq + 2, seq + 3, seq + 4


def test_listings_answer_200_whatever_the_database_holds(fresh):
    srv = fresh("sqlite")
    srv.start()
    with srv.client("alice") as c:
        ok = c.post("/v1/leases", json={"type": "best_effort", "duration": 600, "cpu": 0.5, "memory": 64}).json()
    srv.stop()
    bad = _poison_rows(srv.db, time.time())
    srv.start()
    for who in ("alice", "admin"):
        with srv.client(who) as c:
            leases = c.get("/v1/leases")
            assert leases.status_code == 200, leases.text
            got = {x["id"]: x for x in leases.json()}
            assert {ok["id"], *map(str, bad)} <= set(got)
            assert got[ok["id"]]["nodes"] == [{"cpu": 0.5, "memory": 64.0}]  # a sound row is shown in full
            assert got[str(bad[0])]["duration"] == HUGE and got[str(bad[0])]["requested_start"] is None
            assert all("cannot be shown" in got[str(b)]["reason"] for b in bad[1:])
            for path in ("/v1/queue", "/v1/schedule", "/v1/plan", *(f"/v1/leases/{b}" for b in bad)):
                r = c.get(path)
                assert r.status_code == 200, (path, r.text)
            assert str(bad[0]) in {e["lease"]["id"] for e in c.get("/v1/queue").json()}
    assert "Exception in ASGI application" not in srv.log_path.read_text()
