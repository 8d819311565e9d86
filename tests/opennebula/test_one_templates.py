"""HAIZEA/GALERNA vectors -> lease requests: every syntax, every bad value, groups."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from galerna.model.lease import LeaseType
from galerna.config.opennebula import OpenNebulaConfig
from galerna.opennebula.objects import OneVM
from galerna.opennebula.templates import (
    UNLIMITED,
    TemplateError,
    collect,
    parse_hms,
    parse_instant,
    parse_vm,
    write_back,
)

STIME = 1_800_000_000.0


def vm(id=1, user=None, cpu="1", memory="512", stime=STIME, uid=0, uname="oneadmin"):
    t = {"MEMORY": memory} if memory is not None else {}
    if cpu is not None:
        t["CPU"] = cpu
    return OneVM(id=id, name=f"vm{id}", uid=uid, uname=uname, state=1, lcm_state=0, stime=stime, template=t,
                 user_template=user or {})


def H(**kw):
    return {"HAIZEA": {k.upper(): v for k, v in kw.items()}}


def G(**kw):
    return {"GALERNA": {k.upper(): v for k, v in kw.items()}}


# ---------------------------------------------------------------- value syntax


def test_hms_and_instants():
    assert parse_hms("01:02:03") == 3723 and parse_hms("36:00:00") == 129600 and parse_hms("0:0:1.5") == 1.5
    assert parse_instant("+00:00:30", STIME) == STIME + 30
    assert parse_instant("2027-01-15 10:00:00", 0) == datetime(2027, 1, 15, 10, tzinfo=timezone.utc).timestamp()
    assert parse_instant("2027-01-15T10:00:00+01:00", 0) == datetime(2027, 1, 15, 9, tzinfo=timezone.utc).timestamp()
    for bad in ("1:2", "aa:bb:cc", "01:60:00", "-01:00:00", ""):
        with pytest.raises(ValueError):
            parse_hms(bad)


def test_best_effort():
    a = parse_vm(vm(user=H(start="best_effort", duration="01:00:00", preemptible="yes")))
    assert (a.type, a.start, a.duration, a.preemptible, a.source) == (LeaseType.BE, None, 3600, True, "HAIZEA")
    assert (a.cpu, a.memory) == (1.0, 512.0)


def test_now_is_immediate_and_case_of_values_is_ignored():
    a = parse_vm(vm(user=H(start="NOW", duration="00:10:00", preemptible="No")))
    assert (a.type, a.duration, a.preemptible) == (LeaseType.IM, 600, False)


def test_relative_start_is_an_ar_from_submission():
    a = parse_vm(vm(user=H(start="+00:00:30", duration="00:01:00", preemptible="no")))
    assert (a.type, a.start, a.duration) == (LeaseType.AR, STIME + 30, 60)


def test_iso_start_is_an_ar():
    a = parse_vm(vm(user=H(start="2027-03-01 12:00:00", duration="02:00:00")))
    assert a.type is LeaseType.AR and a.start == datetime(2027, 3, 1, 12, tzinfo=timezone.utc).timestamp()


def test_unlimited_duration_is_the_longest_the_lease_bounds_allow():
    assert parse_vm(vm(user=H(start="best_effort", duration="unlimited"))).duration == UNLIMITED


def test_lowercase_attribute_names_are_read():
    a = parse_vm(vm(user={"HAIZEA": {"start": "now", "duration": "00:05:00"}}))
    assert (a.type, a.duration) == (LeaseType.IM, 300)


def test_no_vector_takes_the_configured_defaults():
    a = parse_vm(vm(user={}), OpenNebulaConfig(default_start="now", default_duration="00:30:00",
                                               default_preemptible=False))
    assert (a.type, a.duration, a.preemptible, a.source) == (LeaseType.IM, 1800, False, "defaults")
    b = parse_vm(vm(user={}))
    assert (b.type, b.duration, b.preemptible) == (LeaseType.BE, 3600, True)


def test_cpu_falls_back_to_vcpu_then_one():
    assert parse_vm(vm(cpu=None, user={})).cpu == 1.0
    v = OneVM(1, "x", 0, 1, 0, STIME, template={"VCPU": "4", "MEMORY": "1024"})
    assert parse_vm(v).cpu == 4.0
    assert parse_vm(vm(cpu="0.5")).cpu == 0.5


def test_galerna_deadline_and_tenant():
    a = parse_vm(vm(user=G(start="+00:10:00", duration="01:00:00", deadline="+03:00:00", tenant="acme")))
    assert (a.type, a.start, a.deadline, a.tenant, a.source) == (LeaseType.DEADLINE, STIME + 600, STIME + 10800,
                                                                 "acme", "GALERNA")
    b = parse_vm(vm(user=G(start="best_effort", duration="01:00:00", deadline="+02:00:00")))
    assert (b.type, b.start) == (LeaseType.DEADLINE, STIME)


# ---------------------------------------------------------------- bad values


@pytest.mark.parametrize("user, needle", [
    (H(start="tomorrow", duration="01:00:00"), "HAIZEA/START: 'tomorrow' is not an ISO time"),
    (H(start="+1h", duration="01:00:00"), "HAIZEA/START: '1h' is not HH:MM:SS"),
    (H(start="now", duration="1 hour"), "HAIZEA/DURATION: '1 hour' is not HH:MM:SS; use unlimited or HH:MM:SS"),
    (H(start="now", duration="00:00:00"), "HAIZEA/DURATION: must be longer than 00:00:00"),
    (H(start="now", duration="01:00:00", preemptible="maybe"), "HAIZEA/PREEMPTIBLE: 'maybe' is not yes or no"),
    (H(start="now", duration="01:00:00", deadline="+02:00:00"), "HAIZEA/DEADLINE: unknown attribute"),
    (G(start="now", duration="01:00:00", deadline="+02:00:00"), "START = now takes no deadline"),
    (G(start="+00:10:00", duration="01:00:00", deadline="+00:30:00"), "earlier than START + DURATION"),
    (G(start="now", duration="01:00:00", deadline="soon"), "GALERNA/DEADLINE: 'soon' is not an ISO time"),
    (G(start="now", color="blue"), "GALERNA/COLOR: unknown attribute"),
    ({"HAIZEA": "start=now"}, "HAIZEA must be a vector"),
    ({"HAIZEA": [{"START": "now"}, {"START": "now"}]}, "HAIZEA appears more than once"),
    ({"HAIZEA": {"START": "now"}, "GALERNA": {"START": "now"}}, "give HAIZEA or GALERNA, not both"),
])
def test_bad_values_are_named(user, needle):
    with pytest.raises(TemplateError) as e:
        parse_vm(vm(user=user))
    assert needle in str(e.value)


def test_every_problem_is_reported_at_once():
    with pytest.raises(TemplateError) as e:
        parse_vm(vm(user=H(start="x", duration="y", preemptible="z"), memory=None))
    assert len(e.value.problems) == 4 and e.value.vm_id == 1
    assert "TEMPLATE/MEMORY: missing (MB)" in str(e.value)


def test_bad_default_is_named_as_a_default():
    with pytest.raises(TemplateError) as e:
        parse_vm(vm(user={}), OpenNebulaConfig(default_duration="forever"))
    assert "[opennebula] default/DURATION" in str(e.value)


# ---------------------------------------------------------------- collecting leases


def test_single_vms_become_one_lease_each_with_stable_ids():
    c = collect([vm(3, H(start="now", duration="00:10:00")), vm(5, {})], now=STIME)
    assert [l.request.id for l in c.leases] == ["one-3", "one-5"]
    assert [l.vm_ids for l in c.leases] == [(3,), (5,)]
    assert c.leases[0].request.type is LeaseType.IM and c.leases[0].request.tenant == "oneadmin"
    assert c.leases[0].request.extra["opennebula_vms"] == "3"


def test_group_is_one_multi_node_lease_after_settling():
    vms = [vm(i, H(start="+00:05:00", duration="01:00:00", group="mpi"), memory=str(256 * i)) for i in (7, 4, 9)]
    early = collect(vms, now=STIME + 1, defaults=OpenNebulaConfig(group_settle=10))
    assert early.leases == [] and sorted(early.waiting) == [4, 7, 9]
    c = collect(vms, now=STIME + 10, defaults=OpenNebulaConfig(group_settle=10))
    (lease,) = c.leases
    assert lease.vm_ids == (4, 7, 9) and lease.request.id == "one-4"
    assert [n["memory"] for n in lease.request.nodes] == [1024.0, 1792.0, 2304.0]
    assert lease.request.type is LeaseType.AR and lease.request.start == STIME + 300
    assert lease.request.extra["opennebula_group"] == "mpi"


def test_groups_are_per_owner():
    vms = [vm(1, H(start="now", duration="00:10:00", group="g"), uid=1),
           vm(2, H(start="now", duration="00:10:00", group="g"), uid=2)]
    c = collect(vms, now=STIME + 100)
    assert sorted(l.vm_ids for l in c.leases) == [(1,), (2,)]


def test_group_that_disagrees_is_refused_whole():
    vms = [vm(1, H(start="+01:00:00", duration="00:10:00", group="g")),
           vm(2, H(start="+01:00:00", duration="00:20:00", group="g"))]
    c = collect(vms, now=STIME + 100)
    assert c.leases == []
    (r,) = c.refusals
    assert r.vm_ids == (1, 2) and "GROUP g" in r.reason and "disagree" in r.reason and r.hold


def test_bad_ar_is_refused_and_held_bad_best_effort_not_held():
    c = collect([vm(1, H(start="+1:00", duration="01:00:00")), vm(2, H(start="best_effort", duration="x"))],
                now=STIME)
    by = {r.vm_ids: r for r in c.refusals}
    assert by[(1,)].hold and not by[(2,)].hold
    assert "HAIZEA/START" in by[(1,)].reason and "HAIZEA/DURATION" in by[(2,)].reason


def test_tenant_map_and_galerna_tenant():
    c = collect([vm(1, {}, uid=5, uname="alice"), vm(2, G(start="now", duration="00:01:00", tenant="acme"), uid=5)],
                now=STIME, tenant_of={5: "lab"})
    assert [l.request.tenant for l in c.leases] == ["lab", "acme"]


def test_write_back_text_is_escaped_and_dated():
    text = write_back("one-3", "scheduled", STIME, message='no room "now"')
    assert 'GALERNA_LEASE_ID = "one-3"' in text and 'GALERNA_STATE = "scheduled"' in text
    assert 'GALERNA_PLANNED_START = "2027-01-15 08:00:00"' in text
    assert 'SCHED_MESSAGE = "no room \\"now\\""' in text
    assert "PLANNED_START" not in write_back("one-3", "running", None)


# ---------------------------------------------------------------- the lease bounds (issue 17 section 1)


@pytest.mark.parametrize("user, cpu, needle", [
    (H(start="9999-01-01 00:00:00", duration="01:00:00"), "1", "HAIZEA/START: must be between 2000-01-01 and 2200"),
    (H(start="now", duration="100000000:00:00"), "1", "HAIZEA/DURATION: must be at most 3.1536e+08 seconds"),
    (G(start="+00:10:00", duration="01:00:00", deadline="2999-01-01 00:00:00"), "1", "GALERNA/DEADLINE: must be"),
    (G(start="now", duration="01:00:00", tenant="a\x1bb"), "1", "GALERNA/TENANT: must not contain control"),
    (H(start="now", duration="01:00:00"), "nan", "TEMPLATE/CPU: must be a finite number"),
    (H(start="now", duration="01:00:00"), "1e9", "TEMPLATE/CPU: must be between 0 and 1e+06"),
])
def test_values_outside_the_lease_bounds_are_named_as_every_inlet_names_them(user, cpu, needle):
    with pytest.raises(TemplateError) as e:
        parse_vm(vm(user=user, cpu=cpu))
    assert needle in str(e.value)


TENANTS = OpenNebulaConfig(tenants={"user:alice": ["physics", "chem"], "group:users": ["shared"]})


def owned(user, uname, gname):
    v = vm(user=user, uid=5, uname=uname)
    return OneVM(**{**v.__dict__, "gname": gname})


def test_tenant_is_checked_against_the_owners_mapping_not_trusted():
    be = {"START": "best_effort", "DURATION": "01:00:00"}
    assert parse_vm(owned({"GALERNA": {**be, "TENANT": "chem"}}, "alice", "users"), TENANTS).tenant == "chem"
    assert parse_vm(owned({"GALERNA": {**be, "TENANT": "shared"}}, "alice", "users"), TENANTS).tenant == "shared"
    assert parse_vm(owned({"HAIZEA": be}, "alice", "users"), TENANTS).tenant == "physics"  # the user's first
    assert parse_vm(owned({"HAIZEA": be}, "bob", "users"), TENANTS).tenant == "shared"  # by its group
    with pytest.raises(TemplateError, match=r"user bob \(group users\) may not use tenant 'physics'; allowed: shared"):
        parse_vm(owned({"GALERNA": {**be, "TENANT": "physics"}}, "bob", "users"), TENANTS)
    with pytest.raises(TemplateError, match=r"OpenNebula user carol \(group ops\) has no Galerna tenant"):
        parse_vm(owned({"HAIZEA": be}, "carol", "ops"), TENANTS)
    # no map configured: as written (the owner's name by default, in collect)
    assert parse_vm(owned({"GALERNA": {**be, "TENANT": "anything"}}, "bob", "users")).tenant == "anything"


def test_tenant_map_keys_and_values_are_validated():
    with pytest.raises(ValueError, match="user:NAME or group:NAME"):
        OpenNebulaConfig(tenants={"alice": ["physics"]})
    with pytest.raises(ValueError, match="at least one non-empty tenant"):
        OpenNebulaConfig(tenants={"user:alice": []})
