"""The ``[opennebula]`` configuration section.

It lives with the rest of the configuration (pydantic only), so that the configuration
never imports the OpenNebula mode it configures. Empty strings mean "OpenNebula's own convention":
``$ONE_XMLRPC``, ``$ONE_AUTH``/``~/.one/one_auth``, ``$ONE_ZMQ``.
"""
from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Placement(StrEnum):
    SCHED_MAD = "sched-mad"  # OpenNebula 7: oned runs galerna-sched as its SCHED_MAD
    XMLRPC = "xmlrpc"  # OpenNebula 6.x (mm_sched disabled), or 7 without the driver


class PreemptBy(StrEnum):
    STOP = "stop"  # save memory, free the host (SAVE_STOP, EPILOG_STOP): a real suspension
    UNDEPLOY = "undeploy"  # power the guest off, free the host: memory is lost


class OpenNebulaConfig(BaseModel):
    """How Galerna reaches OpenNebula and how it enacts leases there."""

    model_config = ConfigDict(extra="forbid")

    endpoint: str = Field("", description="XML-RPC URL; empty = $ONE_XMLRPC, else http://localhost:2633/RPC2")
    auth_file: str = Field("", description="file holding user:password; empty = $ONE_AUTH, ~/.one/one_auth, "
                                           "/var/lib/one/.one/one_auth")
    zmq_endpoint: str = Field("", description="oned's ZeroMQ publisher; empty = $ONE_ZMQ, else tcp://localhost:2101")
    placement: Placement = Field(Placement.SCHED_MAD, description="sched-mad (OpenNebula 7) or xmlrpc (6.x)")
    system_datastore: int = Field(-1, ge=-1, description="system datastore id for deploys; -1 = oned's default")
    preempt: PreemptBy = Field(PreemptBy.STOP, description="how a preempted VM frees its host: stop or undeploy")
    terminate_timeout: float = Field(60.0, gt=0, description="seconds a terminate gets before terminate-hard")
    action_poll: float = Field(1.0, gt=0, description="seconds between state checks while an action completes")
    call_timeout: float = Field(30.0, gt=0, description="seconds one XML-RPC call may take")
    reconcile_interval: float = Field(300.0, gt=0, description="seconds between full reads of oned's VM pool")
    group_settle: float = Field(10.0, ge=0, description="seconds a GROUP waits for more VMs before it is one lease")
    default_start: str = Field("best_effort", description="START of a VM without HAIZEA or GALERNA")
    default_duration: str = Field("01:00:00", description="DURATION of a VM without HAIZEA or GALERNA")
    default_preemptible: bool = Field(True, description="PREEMPTIBLE of a VM without HAIZEA or GALERNA")
    write_back: bool = Field(True, description="write each lease's id, state and planned start to its VMs")
    plan_socket: str = Field("", description="Unix socket the SCHED_MAD driver asks; empty = <data_dir>/one-plan.sock")
    sched_log: str = Field("", description="SCHED_MAD log file; empty = /var/log/one/galerna-sched.log")
    tenants: dict[str, list[str]] = Field(
        default_factory=dict, description='"user:NAME" or "group:NAME" -> the tenants its VMs may use; the first '
        "is the default. Empty: GALERNA/TENANT is trusted and the default tenant is the owner's user name")

    @field_validator("tenants")
    @classmethod
    def _tenant_keys(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        bad = [k for k in v if not (k.startswith(("user:", "group:")) and k.split(":", 1)[1])]
        if bad:
            raise ValueError(f"keys must be user:NAME or group:NAME, not {', '.join(map(repr, bad))}")
        empty = [k for k, tenants in v.items() if not tenants or not all(t.strip() for t in tenants)]
        if empty:
            raise ValueError(f"{', '.join(map(repr, empty))}: give at least one non-empty tenant")
        return v

    def tenants_of(self, user: str, group: str) -> list[str] | None:
        """The tenants an OpenNebula user (in its group) may use, user entries first; None: no map configured."""
        if not self.tenants:
            return None
        out = list(self.tenants.get(f"user:{user}", []))
        out += [t for t in self.tenants.get(f"group:{group}", []) if t not in out]
        return out
