"""Alembic environment for Galerna's store.

Run programmatically by :func:`galerna.store.db.migrate`, which passes an open
connection in ``config.attributes["connection"]``; with the ``alembic`` CLI,
set ``sqlalchemy.url`` (or ``GALERNA_DB``).
"""
from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from galerna.store.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:  # noqa: ANN001
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from galerna.store.db import default_db_url

    url = config.get_main_option("sqlalchemy.url") or default_db_url()
    engine = create_engine(url)
    with engine.connect() as conn:
        _run(conn)
        conn.commit()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
