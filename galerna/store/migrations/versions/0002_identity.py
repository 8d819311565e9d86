"""deployment identity and idempotency keys: the database's deployment id (meta ``deployment``), and
``idempotency_keys`` (a lease-creating request's key, per principal, with a hash of its body)

Revision ID: 0002_identity
Revises: 0001
"""
import time
import uuid

import sqlalchemy as sa
from alembic import op

revision = "0002_identity"
down_revision = "0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    meta = sa.table("meta", sa.column("key", sa.String), sa.column("value", sa.Text))
    conn = op.get_bind()
    if conn.execute(sa.select(meta.c.value).where(meta.c.key == "deployment")).first() is None:
        # An upgraded database gets its id now; its VMs made before are unstamped, and adopted only by name.
        op.bulk_insert(meta, [{"key": "deployment", "value": uuid.uuid4().hex},
                              {"key": "deployment_created", "value": repr(time.time())}])
    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(160), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("body_hash", sa.String(64), nullable=False),
        sa.Column("lease_seq", BigId, sa.ForeignKey("leases.seq"), nullable=False),
        sa.Column("created", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    op.execute("DELETE FROM meta WHERE key IN ('deployment', 'deployment_created')")
