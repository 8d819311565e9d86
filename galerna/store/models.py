"""Tables of the daemon's database.

Times are seconds since the Unix epoch (floats) everywhere. ``leases`` holds
the request and the scheduler's current view of each lease (state, planned
phases, history) so that the scheduling core can be rebuilt from it after a
restart; ``lease_events`` is the append-only history of transitions;
``reservations`` mirrors the planned phases one row per phase for window
queries; ``actions`` are hypervisor operations, written as ``pending``
before they are handed to the executor and closed when it reports.
"""
from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


# SQLite only autoincrements INTEGER PRIMARY KEY; BigInteger elsewhere.
BigId = BigInteger().with_variant(Integer, "sqlite")


class MetaRow(Base):
    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class HostRow(Base):
    __tablename__ = "hosts"
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    uri: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    cpu: Mapped[float] = mapped_column(Float)
    memory: Mapped[float] = mapped_column(Float)
    extra: Mapped[dict] = mapped_column(JSON, default=dict)
    # up | disabled | maintenance (administrative state); health is reported separately
    admin_state: Mapped[str] = mapped_column(String(16), default="up")
    health: Mapped[str] = mapped_column(String(16), default="up")
    position: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[float] = mapped_column(Float)


class LeaseRow(Base):
    __tablename__ = "leases"
    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    name: Mapped[str | None] = mapped_column(String(256), nullable=True)
    type: Mapped[str] = mapped_column(String(16))
    request: Mapped[dict] = mapped_column(JSON)  # the LeaseRequest fields (duration may be updated)
    submitted: Mapped[float] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(32), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    # the core's bookkeeping: phases (plan ahead), history, remaining run time, hosts
    core: Mapped[dict] = mapped_column(JSON, default=dict)
    start: Mapped[float | None] = mapped_column(Float, nullable=True)  # planned or actual start
    end: Mapped[float | None] = mapped_column(Float, nullable=True)  # planned or actual end of run
    updated: Mapped[float] = mapped_column(Float)


class LeaseEventRow(Base):
    __tablename__ = "lease_events"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    lease_seq: Mapped[int] = mapped_column(ForeignKey("leases.seq"), index=True)
    time: Mapped[float] = mapped_column(Float)
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(32))
    hosts: Mapped[list] = mapped_column(JSON, default=list)


class ReservationRow(Base):
    __tablename__ = "reservations"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    lease_seq: Mapped[int] = mapped_column(ForeignKey("leases.seq"), index=True)
    activity: Mapped[str] = mapped_column(String(16))
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    hosts: Mapped[list] = mapped_column(JSON)
    __table_args__ = (Index("ix_reservations_window", "start", "end"),)


class ActionRow(Base):
    __tablename__ = "actions"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    lease_seq: Mapped[int | None] = mapped_column(ForeignKey("leases.seq"), index=True, nullable=True)
    kind: Mapped[str] = mapped_column(String(16))
    vm: Mapped[str] = mapped_column(String(256))
    host: Mapped[str] = mapped_column(String(128))
    dest: Mapped[str | None] = mapped_column(String(128), nullable=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # pending | done | failed | reconciled
    created: Mapped[float] = mapped_column(Float)
    finished: Mapped[float | None] = mapped_column(Float, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class TokenRow(Base):
    __tablename__ = "tokens"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128))
    tenant: Mapped[str | None] = mapped_column(String(128), nullable=True)
    admin: Mapped[bool] = mapped_column(Boolean, default=False)
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    created: Mapped[float] = mapped_column(Float)
    revoked: Mapped[float | None] = mapped_column(Float, nullable=True)


class IdempotencyRow(Base):
    """A lease-creating request's ``Idempotency-Key``, per principal (``scope``), with a hash of its body: a retry
    with the same key answers the lease it made (written in the lease's own transaction)."""

    __tablename__ = "idempotency_keys"
    scope: Mapped[str] = mapped_column(String(160), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    body_hash: Mapped[str] = mapped_column(String(64))
    lease_seq: Mapped[int] = mapped_column(ForeignKey("leases.seq"))
    created: Mapped[float] = mapped_column(Float)
