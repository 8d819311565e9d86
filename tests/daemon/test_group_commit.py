"""Group commit in the scheduler loop, and the SQLite durability setting (in process, no server, no hypervisor)."""
from __future__ import annotations

from concurrent.futures import Future

import pytest
from sqlalchemy import event, func, select, text

from galerna.config.load import ConfigError
from galerna.daemon import ops
from galerna.daemon.service import Service
from galerna.daemon.settings import DaemonConfig, Settings, load_settings
from galerna.store.db import Store
from galerna.store.models import LeaseEventRow, LeaseRow, ReservationRow


def _service(tmp_path, **daemon) -> Service:
    settings = Settings(daemon=DaemonConfig(enact=False, db=f"sqlite:///{tmp_path / 'g.db'}",
                                            data_dir=str(tmp_path), **daemon))
    svc = Service(Store(settings.daemon.db), settings)
    svc.store.set_meta("epoch", str(1.7e9))
    svc.load()
    return svc


def _submit(cpu: float = 0.25, kind: str = "be") -> ops.Submit:
    return ops.Submit(type=kind, duration=3600, nodes=[{"cpu": cpu, "memory": 16}], start=None, deadline=None,
                      preemptible=True, name=None, image=None, tenant="t", future=Future())


def test_a_batch_is_one_transaction_and_nobody_is_answered_before_it_commits(tmp_path):
    svc = _service(tmp_path)
    ops = [_submit() for _ in range(6)] + [_submit(cpu=10_000.0)]  # the last can never fit: rejected
    commits: list[list[bool]] = []
    event.listen(svc.store.engine, "commit", lambda conn: commits.append([op.future.done() for op in ops]))
    svc._batch(ops)
    assert commits == [[False] * len(ops)]  # one commit, and no answer was given before it
    assert all(op.future.done() for op in ops)
    views = [op.future.result() for op in ops]
    assert [v["state"] for v in views[:6]] == ["active"] * 6 and views[6]["state"] == "rejected"
    with svc.store.session() as s:
        rows = {r.seq: r for r in s.scalars(select(LeaseRow))}
        assert sorted(rows) == sorted(int(v["id"]) for v in views)
        assert all(rows[int(v["id"])].state == v["state"] for v in views)
        # each granted lease's plan is mirrored in reservations and its history starts with "submitted"
        assert s.scalar(select(func.count()).select_from(ReservationRow)) == sum(len(v["plan"]) for v in views)
        kinds = list(s.scalars(select(LeaseEventRow.kind).where(LeaseEventRow.lease_seq == int(views[0]["id"]))
                               .order_by(LeaseEventRow.id)))
        assert kinds[0] == "submitted" and "queued" in kinds


def test_a_later_batch_updates_the_rows_it_touches(tmp_path):
    svc = _service(tmp_path)
    first = [_submit() for _ in range(2)]
    svc._batch(first)
    lid = first[0].future.result()["id"]
    cancel = ops.Cancel(lid, future=Future())
    svc._batch([cancel, _submit()])
    assert cancel.future.result() == lid
    with svc.store.session() as s:
        row = s.get(LeaseRow, int(lid))
        assert row.state == "cancelled"
        other = s.get(LeaseRow, int(first[1].future.result()["id"]))
        assert other.state == "active"  # untouched by the cancel
        assert s.scalar(select(func.count()).select_from(LeaseRow)) == 3


def test_a_failed_batch_answers_nobody_with_success_and_writes_nothing(tmp_path, monkeypatch):
    svc = _service(tmp_path)
    ops = [_submit() for _ in range(3)]

    def broken(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(svc, "_commit", broken)
    with pytest.raises(RuntimeError):
        svc._batch(ops)
    assert not any(op.future.done() and op.future.exception() is None for op in ops)
    with svc.store.session() as s:
        assert s.scalar(select(func.count()).select_from(LeaseRow)) == 0


@pytest.mark.parametrize("setting, expected", [(None, 1), ("FULL", 2)])
def test_sqlite_synchronous_setting(tmp_path, setting, expected):
    kw = {} if setting is None else {"sqlite_synchronous": setting}
    store = Store(f"sqlite:///{tmp_path / 'x.db'}", **kw)
    with store.engine.connect() as c:
        assert c.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert c.execute(text("PRAGMA synchronous")).scalar() == expected  # 1 NORMAL, 2 FULL
    store.close()


def test_sqlite_synchronous_from_the_config_file(tmp_path):
    f = tmp_path / "g.toml"
    f.write_text('[daemon]\nsqlite_synchronous = "FULL"\n')
    assert load_settings(f).daemon.sqlite_synchronous == "FULL"
    f.write_text('[daemon]\nsqlite_synchronous = "OFF"\n')
    with pytest.raises(ConfigError, match="sqlite_synchronous"):
        load_settings(f)
