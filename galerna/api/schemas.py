"""Request and response bodies of the REST API (times are ISO 8601, UTC; durations in seconds)."""
from __future__ import annotations

from datetime import datetime, timezone
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from galerna.api.bounded import (Amount, Cores, Flag, ImageId, Megabytes, Name, NodeCount, PositiveCores,
                                 PositiveMegabytes, Seconds, Tenant, Text)
from galerna.api.earlycap import at_most
from galerna.model import bounds

ResourceName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
TEN_YEARS = bounds.MAX_DURATION
MIN_T, MAX_T = datetime(2000, 1, 1, tzinfo=timezone.utc), datetime(2200, 1, 1, tzinfo=timezone.utc)


def _aware(v: datetime | None) -> datetime | None:
    if v is None:
        return v
    if v.tzinfo is None:
        v = v.replace(tzinfo=timezone.utc)
    if not (MIN_T <= v <= MAX_T):
        raise ValueError("must be between 2000-01-01 and 2200-01-01")
    return v


class LeaseKind(StrEnum):
    AR = "ar"
    BEST_EFFORT = "best_effort"
    IMMEDIATE = "immediate"
    DEADLINE = "deadline"


CORE_TYPE = {LeaseKind.AR: "ar", LeaseKind.BEST_EFFORT: "be", LeaseKind.IMMEDIATE: "im", LeaseKind.DEADLINE: "deadline"}
API_TYPE = {v: k for k, v in CORE_TYPE.items()}


class Image(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: ImageId
    size_mb: Amount = 0.0


class LeaseCreate(BaseModel):
    """A lease request. Either ``nodes`` (one resource map per VM) or ``n_nodes`` × (``cpu``, ``memory``)."""

    model_config = ConfigDict(extra="forbid")
    type: LeaseKind = Field(description="ar: exact start; best_effort: queued; immediate: now or refused; "
                                        "deadline: between start and deadline")
    duration: Seconds = Field(description="seconds of run time")
    start: datetime | None = Field(None, description="AR: exact start; deadline: earliest start")
    deadline: datetime | None = Field(None, description="deadline leases: the run must end by then")
    nodes: Annotated[list[dict[ResourceName, Amount]] | None, at_most(bounds.MAX_NODES)] = Field(
        None, min_length=1, max_length=bounds.MAX_NODES)
    n_nodes: NodeCount = 1
    cpu: Cores = Field(1.0, description="cores per VM")
    memory: Megabytes = Field(1024.0, description="MB per VM")
    image: Image | None = None
    preemptible: Flag = True
    name: Name | None = None
    tenant: Tenant | None = Field(
        None, description="admin tokens only: the tenant the lease belongs to")

    @field_validator("start", "deadline")
    @classmethod
    def _times(cls, v: datetime | None) -> datetime | None:
        return _aware(v)


class LeaseUpdate(BaseModel):
    """Change an advance reservation's end (Blazar-like). Exactly one field."""

    model_config = ConfigDict(extra="forbid")
    end: datetime | None = Field(None, description="new end of the run")
    extend_by: Seconds | None = Field(None, description="seconds to add to the end")
    shorten_by: Seconds | None = Field(None, description="seconds to take off the end")
    end_now: Flag | None = Field(None, description="true: end the lease now")

    @field_validator("end")
    @classmethod
    def _times(cls, v: datetime | None) -> datetime | None:
        return _aware(v)


class PhaseOut(BaseModel):
    activity: str
    start: datetime
    end: datetime
    hosts: list[str]


class LeaseOut(BaseModel):
    id: str
    name: str | None
    tenant: str | None
    type: LeaseKind
    state: str
    reason: str
    submitted: datetime
    start: datetime | None = Field(description="the run's planned or actual start")
    end: datetime | None = Field(description="the run's planned or actual end")
    requested_start: datetime | None
    deadline: datetime | None
    duration: float
    nodes: list[dict[str, float]]
    preemptible: bool
    image: Image | None
    hosts: list[str]
    plan: list[PhaseOut]
    history: list[PhaseOut]


class Refusal(BaseModel):
    detail: str
    lease: LeaseOut | None = None


class EventOut(BaseModel):
    time: datetime
    kind: str
    detail: str
    state: str
    hosts: list[str]


class HostCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")]
    uri: Text(1024, min_length=1) | None = Field(
        None, description="libvirt URI; capacity is read from it when cpu/memory are not given")
    cpu: PositiveCores | None = None
    memory: PositiveMegabytes | None = None
    extra: dict[ResourceName, Amount] = Field(default_factory=dict)


class HostOut(BaseModel):
    name: str
    uri: str | None
    cpu: float
    memory: float
    extra: dict[str, float]
    state: str = Field(description="up, disabled or maintenance")
    health: str


class ReservationOut(BaseModel):
    lease: str
    tenant: str | None
    activity: str
    start: datetime
    end: datetime
    hosts: list[str]


class QueueEntry(BaseModel):
    position: int
    lease: LeaseOut


class CommitHealth(BaseModel):
    ok: bool = Field(description="the last probe write committed, no batch failed since, and writes are not fenced")
    error: str | None = Field(None, description="why not, in the database's words (no SQL text)")
    probe_age_s: float | None = Field(None, description="seconds since the probe write ran (it runs at most every 2 s)")
    last_commit_age_s: float | None = Field(None, description="seconds since the scheduler's last group commit")


class Health(BaseModel):
    status: Literal["ok", "degraded", "starting", "standby"] = Field(
        description="ok (HTTP 200): active and able to commit; anything else answers HTTP 503")
    role: Literal["active", "standby", "starting"] = Field(
        description="active: this daemon owns the database and serves; standby: it waits for the lock (§ README "
                    "'Active and standby'); starting: it owns the lock and is rebuilding and reconciling")
    detail: str = Field("", description="why the status is not ok, in words")
    active_url: str | None = Field(None, description="the URL the active daemon advertised (a standby names it)")
    database: str = Field(description="sqlite or postgresql")
    leases: int | None = Field(None, description="leases not yet in a final state (active daemon only)")
    hosts: int | None = Field(None, description="hosts in the scheduler (active daemon only)")
    commit: CommitHealth | None = None
    executor: Literal["running", "closed", "off"] | None = Field(
        None, description="the hypervisor executor: off with --no-enact")
    hosts_in_error: int | None = Field(None, description="hosts whose hypervisor does not answer the monitor")
    monitor: Literal["running", "stopped", "off"] | None = Field(None, description="the host monitor's thread")
    loop_lag_s: float | None = Field(
        None, description="how long the oldest operation not yet answered has waited for the scheduler loop")
