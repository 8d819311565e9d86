"""Alembic revision 0002_identity: the deployment id and the idempotency keys, on a new database and on one upgraded
from the previous head (0001) that already holds data."""
from __future__ import annotations

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import inspect, text

from galerna.store.db import MIGRATIONS, Store, make_engine


def upgrade(engine, revision: str) -> None:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("path_separator", "os")
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def test_every_new_database_gets_its_own_deployment_id(tmp_path):
    a, b = Store(f"sqlite:///{tmp_path / 'a.db'}"), Store(f"sqlite:///{tmp_path / 'b.db'}")
    ids = a.get_meta("deployment"), b.get_meta("deployment")
    assert all(i and len(i) == 32 for i in ids) and ids[0] != ids[1]
    again = Store(a.url)  # migrations run again at every start: the id stays
    assert again.get_meta("deployment") == ids[0]
    for s in (a, b, again):
        s.close()


def test_upgrade_from_0001_keeps_the_data_and_adds_identity(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    upgrade(engine, "0001")
    with engine.begin() as c:
        c.execute(text("INSERT INTO meta (key, value) VALUES ('epoch', '100.0')"))
        c.execute(text("INSERT INTO leases (seq, tenant, name, type, request, submitted, state, reason, core, updated)"
                       " VALUES (1, 't', NULL, 'be', '{}', 1.0, 'queued', '', '{}', 1.0)"))
    assert "idempotency_keys" not in inspect(engine).get_table_names()
    upgrade(engine, "head")
    assert "idempotency_keys" in inspect(engine).get_table_names()
    with engine.connect() as c:
        meta = dict(c.execute(text("SELECT key, value FROM meta")).all())
        assert meta["epoch"] == "100.0" and len(meta["deployment"]) == 32
        assert c.execute(text("SELECT count(*) FROM leases")).scalar() == 1
    engine.dispose()
