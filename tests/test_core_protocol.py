"""The core's typed protocol and its public operations: refusals as values, events with
their activity and preemption mode as enums, fail / change_end / restore_lease, a search
that never patches a lease, and the stats a pass reports."""
import pytest

from galerna.model.site import Site
from galerna.model.state import LeaseState as S
from galerna.schedule.lease import Activity as A
from galerna.schedule.plan import ChangeRefused, Notice, PreemptMode, Refusal, RefusalKind as R, describe
from galerna.schedule.scheduler import LeaseScheduler
from galerna.schedule.search import Resume
from helpers import ar, be, config, dl, im


def _one(events, notice, lease_id):
    (e,) = [e for e in events if e.notice is notice and e.lease_id == lease_id]
    return e


def test_a_refusal_is_a_value_each_shell_formats_its_own_way():
    core = LeaseScheduler(Site.uniform(1))
    core.submit(ar(1, 0, 100, 50), 0)
    e = _one(core.submit(ar(2, 0, 120, 50), 0), Notice.REJECTED, "2")
    assert e.refusal == Refusal(R.NO_CAPACITY_AT, at=120, vms=1)
    assert describe(e) == "no capacity for 1 VMs at 120" == core.leases["2"].reason
    assert e.refusal.text(lambda t: f"<{t + 1000:.0f}>") == "no capacity for 1 VMs at <1120>"
    # every kind that carries instants writes them through the shell's formatter
    assert Refusal(R.TOO_SOON, at=5, now=7).text(lambda t: f"T{t:g}") == \
        "requested start T5 leaves no time to prepare (now T7)"
    assert Refusal(R.MISSES_DEADLINE, at=3600).text(lambda t: "X") == "cannot finish by its deadline X"
    assert Refusal(R.SITE_TOO_SMALL, need=4, have=2, resource="cpu").text() == "needs 4 cpu in total, the site has 2"


def test_the_refusals_of_each_lease_type():
    core = LeaseScheduler(Site.uniform(1), config(scheduling={"non_schedulable_interval": 10}))
    assert _one(core.submit(ar(1, 0, 5, 50), 0), Notice.REJECTED, "1").refusal == Refusal(R.TOO_SOON, at=5, now=0)
    assert _one(core.submit(be(2, 0, 50, nodes=2), 0), Notice.REJECTED, "2").refusal == \
        Refusal(R.SITE_TOO_SMALL, need=2, have=1, resource="cpu")
    core.submit(be(3, 0, 1000), 0)
    core.advance(20)
    assert _one(core.submit(im(4, 20, 50), 20), Notice.REJECTED, "4").refusal == Refusal(R.NO_CAPACITY_NOW, vms=1)
    e = _one(core.submit(dl(5, 20, 20, 500, 100), 20), Notice.REJECTED, "5")
    assert e.refusal.kind is R.MISSES_DEADLINE and e.refusal.at == 500
    noars = LeaseScheduler(Site.uniform(1), config(scheduling={"admission": "no-ars"}))
    assert _one(noars.submit(ar(1, 0, 100, 5), 0), Notice.REJECTED, "1").refusal.kind is R.ARS_NOT_ADMITTED


def test_events_carry_their_activity_and_preemption_mode_as_enums():
    core = LeaseScheduler(Site.uniform(1))
    started = _one(core.submit(be(1, 0, 1000), 0), Notice.PHASE_STARTED, "1")
    assert started.activity is A.RUN and started.preemption is None and describe(started) == "run"
    e = _one(core.submit(ar(2, 0, 500, 100), 0), Notice.PREEMPTED, "1")
    assert e.preemption is PreemptMode.SUSPEND and e.until == 500 and describe(e) == "suspend"
    ended = [e for e in core.advance(500) if e.notice is Notice.PHASE_ENDED and e.lease_id == "1"]
    assert [e.activity for e in ended] == [A.RUN, A.SUSPEND]

    nosusp = LeaseScheduler(Site.uniform(1), config(scheduling={"suspension": "none"}))
    nosusp.submit(be(1, 0, 1000), 0)
    assert _one(nosusp.submit(ar(2, 0, 500, 100), 0), Notice.PREEMPTED, "1").preemption is \
        PreemptMode.CANCEL_AND_REQUEUE
    assert _one(nosusp.advance(500), Notice.PREEMPTED, "1").preemption is PreemptMode.REQUEUE


def test_an_event_is_built_as_its_dataclass_says_and_stays_frozen():
    """plan.Event's __init__ stores through the slots (plan._set_by_slots): the fields'
    names, order and defaults as declared, every value where it belongs."""
    import dataclasses
    import inspect

    from galerna.schedule.plan import Event

    fields = dataclasses.fields(Event)
    params = list(inspect.signature(Event).parameters.values())
    assert [(p.name, p.default) for p in params] == \
        [(f.name, inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default) for f in fields]
    values = [1.5, "7", Notice.SCHEDULED, (2, 3), 9.0, A.RUN, PreemptMode.SUSPEND, Refusal(R.TOO_SOON, at=1, now=0),
              "why", True]
    for e in (Event(*values), Event(**{f.name: v for f, v in zip(fields, values)})):
        assert [getattr(e, f.name) for f in fields] == values
    e = Event(0.0, "1", Notice.DONE)
    assert (e.hosts, e.until, e.activity, e.reason, e.moved) == ((), None, None, "", False)
    assert e == Event(0.0, "1", Notice.DONE) and hash(e) == hash(Event(0.0, "1", Notice.DONE))
    assert dataclasses.replace(e, time=2.0).time == 2.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.time = 1.0
    with pytest.raises(TypeError):
        Event(0.0, "1")


def test_fail_ends_the_lease_failed_and_gives_its_capacity_back():
    core = LeaseScheduler(Site.uniform(1))
    core.submit(be(1, 0, 1000), 0)
    core.submit(be(2, 0, 100), 0)
    events = core.fail("1", 10, "deploy failed on h1: boom")
    e = _one(events, Notice.CANCELLED, "1")
    assert e.reason == "deploy failed on h1: boom" and e.refusal is None
    assert core.leases["1"].state is S.FAILED and core.leases["1"].reason == "deploy failed on h1: boom"
    assert _one(events, Notice.PHASE_STARTED, "2").time == 10  # lease 2 took the freed host at once
    with pytest.raises(ValueError, match="already failed"):
        core.fail("1", 11, "again")


def test_change_end_shortens_an_ar_and_compression_moves_the_waiting_lease_earlier():
    core = LeaseScheduler(Site.uniform(1))
    core.submit(ar(1, 0, 0, 1000), 0)
    core.submit(be(2, 0, 100), 0)
    assert core.leases["2"].phases[0].start == 1000
    core.change_end("1", 400, 50)
    assert [p.end for p in core.leases["1"].phases] == [400]
    assert core.leases["2"].phases[0].start == 400
    assert core.stats.moves >= 1 and core.stats.replans >= core.stats.moves and core.stats.compressions >= 1


def test_change_end_refusals_leave_the_plan_as_it_was():
    core = LeaseScheduler(Site.uniform(1))
    core.submit(ar(1, 0, 0, 1000), 0)
    core.submit(ar(2, 0, 1000, 500), 0)
    with pytest.raises(ChangeRefused, match="no capacity to extend"):
        core.change_end("1", 1200, 10)
    assert [(p.start, p.end) for p in core.leases["1"].phases] == [(0, 1000)]
    core.submit(be(3, 0, 100), 10)  # the slot table still holds lease 1 until 1000
    assert core.leases["3"].phases[0].start == 1500
    with pytest.raises(ChangeRefused, match="only advance reservations"):
        core.change_end("3", 5000, 10)
    with pytest.raises(ChangeRefused, match="not after the lease's start"):
        core.change_end("2", 900, 10)


def test_a_resume_search_never_patches_the_lease():
    core = LeaseScheduler(Site.uniform(2))
    core.submit(be(1, 0, 1000), 0)
    L = core.leases["1"]
    before = (L.state, L.remaining, L.hosts, L.version, list(L.phases))
    phases = core.search.find(Resume(L, L.hosts, 300.0), 10)
    assert (L.state, L.remaining, L.hosts, L.version, list(L.phases)) == before
    assert [p.activity for p in phases] == [A.RESUME, A.RUN]
    # resumed in place (migration "no") once its own host is free, for the remaining 300 s given
    assert phases[0].start == 1000 and phases[0].hosts == L.hosts and phases[1].end - phases[1].start == 300.0


def test_restore_lease_puts_a_plan_back_without_replanning_it():
    first = LeaseScheduler(Site.uniform(1))
    first.submit(be(1, 0, 1000), 0)
    first.submit(be(2, 0, 100), 0)
    L1, L2 = first.leases["1"], first.leases["2"]
    core = LeaseScheduler(Site.uniform(1))
    r1 = core.restore_lease(L1.req, L1.state, [p for p in L1.phases], remaining=L1.remaining, hosts=L1.hosts,
                            booted=L1.booted)
    r2 = core.restore_lease(L2.req, S.QUEUED, [], note="waiting")
    assert r1.state is S.ACTIVE and r1.phases[0].end == 1000
    assert r2.state is S.QUEUED and r2.reason == "waiting" and core.waiting() == 1
    events = core.advance(5)  # the round the restore asked for: lease 2 waits for lease 1's host
    assert _one(events, Notice.SCHEDULED, "2").until == 1000
    with pytest.raises(ValueError, match="already submitted"):
        core.restore_lease(L1.req, L1.state, [])


def test_the_detail_text_is_derived_from_the_typed_fields():
    core = LeaseScheduler(Site.uniform(1))
    events = core.submit(be(1, 0, 100), 0) + core.submit(ar(2, 0, 50, 10), 0) + core.submit(ar(3, 0, 55, 10), 0)
    assert [(e.notice.value, e.detail) for e in events if e.lease_id != "2"][:2] == [("queued", ""), ("scheduled", "")]
    assert _one(events, Notice.PREEMPTED, "1").detail == "suspend"
    assert _one(events, Notice.REJECTED, "3").detail == "no capacity for 1 VMs at 55"


def test_a_lease_whose_run_ends_as_it_is_placed_is_done_at_once():
    # found by schemathesis: a best-effort lease of 5e-324 s (its phases end as the round applies them)
    core = LeaseScheduler(Site.uniform(2))
    events = core.submit(be(1, 0, 5e-324), 0) + core.submit(be(2, 0, 5e-324), 0)
    assert [e.notice for e in events if e.lease_id == "2"][-1] is Notice.DONE
    assert core.leases["1"].state is S.DONE and core.waiting() == 0
