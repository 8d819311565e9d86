"""initial schema: meta, hosts, leases, lease events, reservations, actions, tokens

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table("meta", sa.Column("key", sa.String(64), primary_key=True), sa.Column("value", sa.Text, nullable=False))
    op.create_table(
        "hosts",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("uri", sa.String(1024), nullable=True),
        sa.Column("cpu", sa.Float, nullable=False),
        sa.Column("memory", sa.Float, nullable=False),
        sa.Column("extra", sa.JSON, nullable=False),
        sa.Column("admin_state", sa.String(16), nullable=False),
        sa.Column("health", sa.String(16), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
    )
    op.create_table(
        "leases",
        sa.Column("seq", BigId, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(128), nullable=True),
        sa.Column("name", sa.String(256), nullable=True),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("request", sa.JSON, nullable=False),
        sa.Column("submitted", sa.Float, nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("core", sa.JSON, nullable=False),
        sa.Column("start", sa.Float, nullable=True),
        sa.Column("end", sa.Float, nullable=True),
        sa.Column("updated", sa.Float, nullable=False),
    )
    op.create_index("ix_leases_tenant", "leases", ["tenant"])
    op.create_index("ix_leases_state", "leases", ["state"])
    op.create_table(
        "lease_events",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("lease_seq", BigId, sa.ForeignKey("leases.seq"), nullable=False),
        sa.Column("time", sa.Float, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("hosts", sa.JSON, nullable=False),
    )
    op.create_index("ix_lease_events_lease_seq", "lease_events", ["lease_seq"])
    op.create_table(
        "reservations",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("lease_seq", BigId, sa.ForeignKey("leases.seq"), nullable=False),
        sa.Column("activity", sa.String(16), nullable=False),
        sa.Column("start", sa.Float, nullable=False),
        sa.Column("end", sa.Float, nullable=False),
        sa.Column("hosts", sa.JSON, nullable=False),
    )
    op.create_index("ix_reservations_lease_seq", "reservations", ["lease_seq"])
    op.create_index("ix_reservations_window", "reservations", ["start", "end"])
    op.create_table(
        "actions",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("lease_seq", BigId, sa.ForeignKey("leases.seq"), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("vm", sa.String(256), nullable=False),
        sa.Column("host", sa.String(128), nullable=False),
        sa.Column("dest", sa.String(128), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("finished", sa.Float, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
    )
    op.create_index("ix_actions_lease_seq", "actions", ["lease_seq"])
    op.create_index("ix_actions_status", "actions", ["status"])
    op.create_table(
        "tokens",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("tenant", sa.String(128), nullable=True),
        sa.Column("admin", sa.Boolean, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("revoked", sa.Float, nullable=True),
    )


def downgrade() -> None:
    for t in ("tokens", "actions", "reservations", "lease_events", "leases", "hosts", "meta"):
        op.drop_table(t)
