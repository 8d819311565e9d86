"""Durable state of the daemon: SQLAlchemy 2 models, engine set-up and Alembic migrations.

The same code runs on SQLite (the embedded default) and PostgreSQL
(``postgresql+psycopg://…``). Migrations run programmatically at start-up.
"""
from galerna.store.db import Store, default_db_url, make_engine, migrate
from galerna.store.models import ActionRow, Base, HostRow, IdempotencyRow, LeaseEventRow, LeaseRow, MetaRow, ReservationRow, TokenRow

__all__ = [
    "ActionRow",
    "Base",
    "HostRow",
    "IdempotencyRow",
    "LeaseEventRow",
    "LeaseRow",
    "MetaRow",
    "ReservationRow",
    "Store",
    "TokenRow",
    "default_db_url",
    "make_engine",
    "migrate",
]
