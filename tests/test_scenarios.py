"""Haizea's scenario workloads, with what must happen worked out by hand.

Sites are 4 hosts of 1 CPU / 1024 MB. Suspending or resuming a 1024 MB VM at
the default 32 MB/s takes 32 s.
"""
import pytest

from galerna.readers import load_workload
from galerna.sim.engine import Simulation
from helpers import check, config, lease, phases, run, write, be, ar, im, dl
from galerna.model.site import Site


def sim(traces_dir, name, **cfg):
    w = load_workload(traces_dir / "tests" / f"{name}.lwf")
    return Simulation(w.site, config(**cfg), w.requests).run()


def test_ar_preempts_running_best_effort_by_suspending_it(traces_dir, tmp_path):
    r = sim(traces_dir, "preemption")
    # Lease 1 runs from 0, is saved in the 32 s before the AR's start at 1800,
    # resumes when the AR ends at 3600 and runs its remaining 3600 - 1768 s.
    ((_, _, _, h),) = phases(r, "1")[:1]
    assert phases(r, "1") == [
        ("run", 0, 1768, h), ("suspend", 1768, 1800, h), ("resume", 3600, 3632, h), ("run", 3632, 5464, h),
    ]
    assert [p[:3] for p in phases(r, "2")] == [("run", 1800, 3600)]
    assert lease(r, "1").suspensions == 1
    write(r, tmp_path)
    check(tmp_path, 2)


def test_without_suspension_the_preempted_lease_is_cancelled_and_requeued(traces_dir, tmp_path):
    r = sim(traces_dir, "preemption", scheduling={"suspension": "none"})
    L = lease(r, "1")
    assert [(p.start, p.end) for p in L.lost] == [(0, 1800)]
    assert [p[:3] for p in phases(r, "1")] == [("run", 3600, 7200)]
    assert L.suspensions == 0
    write(r, tmp_path)
    check(tmp_path, 2)


def test_serial_only_suspension_still_suspends_a_one_node_lease(traces_dir):
    r = sim(traces_dir, "preemption", scheduling={"suspension": "serial-only"})
    assert lease(r, "1").suspensions == 1


def test_global_exclusion_and_overhead_lengthen_the_suspension(traces_dir):
    r = sim(traces_dir, "preemption", scheduling={"enactment_overhead": 8, "suspend_rate": 64, "resume_rate": 16})
    # suspend 1024/64 + 8 = 24 s, resume 1024/16 + 8 = 72 s
    assert [p[:3] for p in phases(r, "1")] == [
        ("run", 0, 1776), ("suspend", 1776, 1800), ("resume", 3600, 3672), ("run", 3672, 3672 + 3600 - 1776),
    ]


def test_best_effort_waits_for_all_its_nodes(traces_dir, tmp_path):
    r = sim(traces_dir, "reservation")
    assert [p[:3] for p in phases(r, "2")] == [("run", 3600, 4500)]
    write(r, tmp_path)
    check(tmp_path, 2)


def test_premature_end_compresses_the_reservation_earlier(traces_dir, tmp_path):
    r = sim(traces_dir, "reservation_prematureend")
    assert [p[:3] for p in phases(r, "1")] == [("run", 0, 1800)]
    assert [p[:3] for p in phases(r, "2")] == [("run", 1800, 2700)]
    write(r, tmp_path)
    check(tmp_path, 2)


def test_fcfs_queue_runs_one_after_another(traces_dir, tmp_path):
    r = sim(traces_dir, "wait")
    for k in range(1, 9):
        assert [p[:3] for p in phases(r, str(k))] == [("run", (k - 1) * 900, k * 900)]
    s = write(r, tmp_path)
    assert s["mean_wait"] == pytest.approx(sum(k * 900 for k in range(8)) / 8)
    check(tmp_path, 8)


def test_premature_end_of_a_preempted_lease(traces_dir, tmp_path):
    r = sim(traces_dir, "preemption_prematureend")
    # Real run 2700 s: 1768 s before the suspension, the remaining 932 s after resuming.
    assert [p[:3] for p in phases(r, "1")] == [
        ("run", 0, 1768), ("suspend", 1768, 1800), ("resume", 2700, 2732), ("run", 2732, 3664),
    ]
    write(r, tmp_path)
    check(tmp_path, 2)


def test_real_end_just_after_the_suspension_began(traces_dir, tmp_path):
    r = sim(traces_dir, "prematureend_in_start")
    # Real run 1770 s: the suspension starts at 1768, so 2 s remain after the resume.
    assert [p[:3] for p in phases(r, "1")] == [
        ("run", 0, 1768), ("suspend", 1768, 1800), ("resume", 2700, 2732), ("run", 2732, 2734),
    ]
    write(r, tmp_path)
    check(tmp_path, 2)


def test_deadline_aware_policy_moves_a_deadline_lease_that_can_still_make_it(traces_dir, tmp_path):
    r = sim(traces_dir, "deadline1", scheduling={"preemption": "deadline-aware"})
    # Lease 2 needs exactly [1800, 3600); lease 1 (deadline 6300) moves to [3600, 5400).
    assert [p[:3] for p in phases(r, "2")] == [("run", 1800, 3600)]
    assert [p[:3] for p in phases(r, "1")] == [("run", 3600, 5400)]
    write(r, tmp_path)
    check(tmp_path, 2)


def test_without_deadline_preemption_the_late_deadline_lease_is_rejected(traces_dir):
    r = sim(traces_dir, "deadline1", scheduling={"preemption": "none"})
    assert lease(r, "2").state.value == "rejected"
    assert "deadline" in lease(r, "2").reason
    assert [p[:3] for p in phases(r, "1")] == [("run", 1800, 3600)]


@pytest.mark.parametrize("name", ["deadline2", "deadline3"])
def test_deadline_workloads_meet_every_accepted_deadline(traces_dir, tmp_path, name):
    r = sim(traces_dir, name, scheduling={"preemption": "deadline-aware"})
    for L in r.leases:
        if L.state.value == "done":
            assert L.last_run_end() <= L.req.deadline + 1e-6
            assert L.first_run() >= L.req.start - 1e-6
    write(r, tmp_path)
    check(tmp_path, 2)


@pytest.mark.parametrize("path", sorted(p.name for p in (__import__("tests.conftest", fromlist=["TRACES"]).TRACES / "tests").glob("*.lwf")) if (__import__("tests.conftest", fromlist=["TRACES"]).TRACES / "tests").is_dir() else [])
def test_every_haizea_test_workload_gives_a_valid_schedule(traces_dir, tmp_path, path):
    w = load_workload(traces_dir / "tests" / path)
    for policy in ("ar-preempts-everything", "deadline-aware"):
        r = Simulation(w.site, config(scheduling={"preemption": policy}), w.requests).run()
        write(r, tmp_path)
        check(tmp_path, len(w.requests))


# ----------------------------------------------------- small crafted scenarios
SITE2 = Site.uniform(2)


def test_immediate_lease_starts_now_or_is_rejected(tmp_path):
    r = run(SITE2, [be(1, 0, 1000, nodes=2), im(2, 10, 100), im(3, 1000, 100)])
    assert lease(r, "2").state.value == "rejected"
    assert [p[:3] for p in phases(r, "3")] == [("run", 1000, 1100)]
    write(r, tmp_path)
    check(tmp_path, 3)


def test_ar_that_does_not_fit_is_rejected_with_a_reason():
    r = run(SITE2, [ar(1, 0, 100, 1000, nodes=2), ar(2, 0, 500, 100, nodes=1)])
    assert lease(r, "2").state.value == "rejected"
    assert "no capacity" in lease(r, "2").reason


def test_lease_larger_than_the_site_is_rejected_not_crashed():
    r = run(SITE2, [be(1, 0, 100, nodes=3), be(2, 0, 100, cpu=2)])
    assert "site has 2" in lease(r, "1").reason
    assert "more than any single host" in lease(r, "2").reason


def test_backfilling_off_blocks_the_queue_behind_its_head():
    reqs = [be(1, 0, 1000), be(2, 1, 100, nodes=2), be(3, 2, 100)]
    off = run(SITE2, reqs, config(scheduling={"backfilling": "off"}))
    aggressive = run(SITE2, reqs, config(scheduling={"backfilling": "aggressive"}))
    # Off: lease 3 may not pass lease 2, which waits for lease 1.
    assert lease(off, "3").first_run() == 1100
    # Aggressive: lease 3 fits beside lease 1 before lease 2's reservation.
    assert lease(aggressive, "3").first_run() == 2
    assert lease(aggressive, "2").first_run() == 1000


def test_aggressive_backfilling_keeps_one_reservation_conservative_keeps_all():
    reqs = [be(1, 0, 1000, nodes=2), be(2, 1, 100, nodes=2), be(3, 2, 100, nodes=2)]
    from galerna.schedule.scheduler import LeaseScheduler
    from galerna.schedule.lease import Lease  # noqa: F401

    for mode, held in (("aggressive", 1), ("conservative", 2)):
        core = LeaseScheduler(SITE2, config(scheduling={"backfilling": mode}))
        for r in reqs:
            core.submit(r, r.submit)
        assert len(core.reserved) == held, mode


def test_boot_and_shutdown_overheads_surround_the_run(tmp_path):
    r = run(SITE2, [be(1, 0, 100), ar(2, 0, 500, 100)],
            config(scheduling={"boot_overhead": 10, "shutdown_time": 5, "runtime_slowdown_overhead": 10}))
    assert [p[:3] for p in phases(r, "1")] == [("boot", 0, 10), ("run", 10, pytest.approx(120)), ("shutdown", pytest.approx(120), pytest.approx(125))]
    # An AR boots before its start so that it runs from exactly its requested instant.
    assert [p[:3] for p in phases(r, "2")] == [("boot", 490, 500), ("run", 500, pytest.approx(610)), ("shutdown", pytest.approx(610), pytest.approx(615))]
    write(r, tmp_path)
    check(tmp_path, 2)


def test_migration_resumes_a_suspended_lease_elsewhere(tmp_path):
    # Lease 1 runs on one host; an AR takes both hosts at 1000 for 100 s, then a
    # second AR keeps host of lease 1 busy — with migration it resumes on the other.
    reqs = [be(1, 0, 2000), ar(2, 10, 1000, 100, nodes=2)]
    base = run(SITE2, reqs)
    h = phases(base, "1")[0][3][0]
    other = 1 - h
    reqs.append(ar(3, 20, 1100, 5000, nodes=1))
    for mode, expect in (("no", None), ("yes", other), ("yes-notransfer", other)):
        r = run(SITE2, reqs, config(scheduling={"migration": mode, "migration_bandwidth": 64}))
        acts = phases(r, "1")
        resumed_on = [p for p in acts if p[0] == "resume"][0][3][0]
        if expect is None:
            # Without migration it waits for its own host, after AR 3 ends at 6100.
            assert resumed_on == h and [p for p in acts if p[0] == "resume"][0][1] >= 6100
        else:
            assert resumed_on == other
            moved = [p for p in acts if p[0] == "migrate"]
            assert bool(moved) == (mode == "yes")
            if moved:
                assert moved[0][2] - moved[0][1] == pytest.approx(1024 / 64)
        write(r, tmp_path)
        check(tmp_path, 3)


def test_non_schedulable_interval_delays_new_starts():
    r = run(SITE2, [be(1, 0, 100)], config(scheduling={"non_schedulable_interval": 30}))
    assert lease(r, "1").first_run() == 30


def test_admission_no_ars_rejects_reservations():
    r = run(SITE2, [ar(1, 0, 100, 100), be(2, 0, 100)], config(scheduling={"admission": "no-ars"}))
    assert lease(r, "1").state.value == "rejected" and lease(r, "2").state.value == "done"


def test_deadline_lease_suspended_by_an_ar_still_meets_its_deadline(tmp_path):
    reqs = [dl(1, 0, 0, 5000, 2000, nodes=2), ar(2, 100, 1000, 500, nodes=2)]
    r = run(SITE2, reqs)
    L = lease(r, "1")
    assert L.suspensions == 1 and L.last_run_end() <= 5000
    write(r, tmp_path)
    check(tmp_path, 2)


# ------------------------------------------------------------- image transfer
def images_cfg(**it):
    return config(imagetransfer={"preparation": "imagetransfer", "bandwidth": 32, **it})


def with_image(req, image="img", size=1024.0):
    import dataclasses

    from galerna.model.lease import DiskImage

    return dataclasses.replace(req, image=DiskImage(image, size))


def transfers(result, lease_id):
    return [(p.start, p.end, p.hosts) for p in lease(result, lease_id).history if p.activity.value == "transfer"]


def test_best_effort_waits_for_its_image(tmp_path):
    r = run(SITE2, [with_image(be(1, 0, 100))], images_cfg())
    # 1024 MB at 32 MB/s: the VM can start at 32.
    assert transfers(r, "1") == [(0, 32, transfers(r, "1")[0][2])]
    assert lease(r, "1").first_run() == 32
    write(r, tmp_path)
    check(tmp_path, 1)
    assert any(row["activity"] == "transfer" for row in __import__("helpers").rows(tmp_path, "allocations.csv"))


def test_a_lease_moves_to_a_host_that_already_holds_its_image_when_the_link_is_busy():
    # Lease 2's image is sent before it starts; the link is then taken for 10,000 s by
    # lease 4's big image. A copy of lease 2's image already sits on host 2 (as an
    # earlier plan of it would have left it). When lease 1 ends early, host 2 is free
    # and lease 2 starts there at once, on its copy, instead of waiting for the link.
    from galerna.schedule.images import Copy
    from galerna.schedule.scheduler import LeaseScheduler

    cfg = images_cfg(transfer_mode="multicast")
    sched = LeaseScheduler(Site.uniform(3), cfg)
    sched.submit(be(1, 0, 1000, nodes=3, real=600), 0)
    sched.submit(with_image(be(4, 0, 100), "big", 32 * 10_000.0), 0)
    sched.submit(with_image(be(2, 0, 500), "b"), 0)
    two = sched.leases["2"]
    assert two.phases[0].activity.value == "transfer" and two.phases[0].start >= 10_000
    sched.images._add(2, Copy("b", 1024.0, 0.0, "2"))
    sched.advance(600)
    sched.vms_finished("1", 600)
    assert [(p.activity.value, p.start, p.end, p.hosts) for p in two.phases] == [("run", 600, 1100, (2,))]
    # It finishes: no copy of its image is left behind on any host.
    sched.advance(1100)
    assert two.state.value == "done"
    assert not sched.images.copy_hosts(two.req)
    assert not any(image == "b" for _, image, _ in sched.images.mine)


def test_compression_sees_a_copy_that_arrived_after_it_last_looked():
    # As above, but a first premature end (lease 6's, on host 2, at 300) has compression
    # look at lease 2 while no host holds a copy of its image: it cannot move. The copy
    # then appears on host 2; at lease 1's end compression must read the copies anew
    # (what it remembers of them is per version of the lease's copies), and lease 2
    # starts there at 600.
    from galerna.schedule.images import Copy
    from galerna.schedule.scheduler import LeaseScheduler

    cfg = images_cfg(transfer_mode="multicast")
    sched = LeaseScheduler(Site.uniform(3), cfg)
    sched.submit(be(1, 0, 1000, nodes=2, real=600), 0)
    sched.submit(be(6, 0, 1000, real=300), 0)
    sched.submit(with_image(be(4, 0, 100), "big", 32 * 10_000.0), 0)
    sched.submit(with_image(be(2, 0, 500), "b"), 0)
    two = sched.leases["2"]
    assert two.phases[0].activity.value == "transfer" and two.phases[0].start >= 10_000
    assert set(sched.leases["6"].phases[0].hosts) == {2}
    sched.advance(300)
    sched.vms_finished("6", 300)
    assert two.phases[0].activity.value == "transfer" and two.phases[0].start >= 10_000  # no copy: stays
    assert two.memo is not None
    sched.images._add(2, Copy("b", 1024.0, 0.0, "2"))
    sched.advance(600)
    sched.vms_finished("1", 600)
    assert [(p.activity.value, p.start, p.end, p.hosts) for p in two.phases] == [("run", 600, 1100, (2,))]


def test_unicast_sends_one_copy_per_host_multicast_one_for_all():
    reqs = [with_image(be(1, 0, 100, nodes=2))]
    uni = run(SITE2, reqs, images_cfg(transfer_mode="unicast"))
    multi = run(SITE2, reqs, images_cfg(transfer_mode="multicast"))
    assert lease(uni, "1").first_run() == 64 and lease(multi, "1").first_run() == 32


def test_transfers_share_the_repository_link_first_come_first_served():
    reqs = [with_image(be(1, 0, 100), "a"), with_image(be(2, 0, 100), "b")]
    r = run(SITE2, reqs, images_cfg())
    assert lease(r, "1").first_run() == 32 and lease(r, "2").first_run() == 64


def test_ar_transfer_takes_the_latest_hole_before_its_start(tmp_path):
    r = run(SITE2, [with_image(ar(1, 0, 1000, 100))], images_cfg())
    assert transfers(r, "1")[0][:2] == (968, 1000)
    write(r, tmp_path)
    check(tmp_path, 1)


def test_ar_whose_image_cannot_arrive_in_time_is_rejected():
    r = run(SITE2, [with_image(ar(1, 0, 10, 100))], images_cfg())
    assert lease(r, "1").state.value == "rejected" and "image" in lease(r, "1").reason


def test_reuse_keeps_the_image_for_the_next_lease():
    reqs = [with_image(be(1, 0, 100)), with_image(be(2, 500, 100))]
    plain = run(Site.uniform(1), reqs, images_cfg())
    cached = run(Site.uniform(1), reqs, images_cfg(reuse=True))
    assert len(transfers(plain, "2")) == 1 and lease(plain, "2").first_run() == 532
    assert transfers(cached, "2") == [] and lease(cached, "2").first_run() == 500


def test_cache_evicts_the_least_recently_used_image():
    reqs = [with_image(be(1, 0, 10), "a"), with_image(be(2, 100, 10), "b"), with_image(be(3, 200, 10), "a")]
    big = run(Site.uniform(1), reqs, images_cfg(reuse=True, cache_size=4096))
    small = run(Site.uniform(1), reqs, images_cfg(reuse=True, cache_size=1024))
    assert transfers(big, "3") == []  # both images fit
    assert len(transfers(small, "3")) == 1  # "a" was evicted to make room for "b"


# ------------------------------------------- partial runs before a reservation
def test_best_effort_runs_until_an_ar_then_migrates_to_free_hosts(traces_dir, tmp_path):
    # migrate.lwf: AR 1 holds two hosts [90, 3690), AR 2 the other two [1800, 5400).
    # Lease 3 (2 VMs, 3600 s) runs on the second pair until it must make way for AR 2.
    for mode in ("no", "yes"):
        r = sim(traces_dir, "migrate", scheduling={"migration": mode})
        acts = phases(r, "3")
        pair = acts[0][3]
        assert acts[:2] == [("run", 0, 1768, pair), ("suspend", 1768, 1800, pair)]
        if mode == "no":
            assert acts[2:] == [("resume", 5400, 5432, pair), ("run", 5432, 7264, pair)]
        else:
            other = phases(r, "1")[0][3]
            move = (1024 + 1024) / 100  # memory and disk image at 100 MB/s
            assert [a[0] for a in acts[2:]] == ["migrate", "resume", "run"]
            assert acts[2][1:] == (3690, pytest.approx(3690 + move), other)
            assert acts[4][2] - acts[4][1] == pytest.approx(3600 - 1768)
        write(r, tmp_path)
        check(tmp_path, 3)


def test_threshold_keeps_a_lease_from_starting_for_too_short_a_run():
    # One host; an AR at 100. Suspending + resuming a 1024 MB VM costs 64 s.
    reqs = [ar(1, 0, 100, 1000), be(2, 0, 500)]
    short = run(Site.uniform(1), reqs, config(scheduling={"scheduling_threshold_value": 1.0}))
    assert [p[0] for p in phases(short, "2")][:2] == ["run", "suspend"]  # 68 s of run >= 64 s
    strict = run(Site.uniform(1), reqs, config(scheduling={"scheduling_threshold_value": 2.0}))
    assert lease(strict, "2").first_run() == 1100  # 68 s < 128 s: waits for the AR to end
    fixed = run(Site.uniform(1), reqs, config(scheduling={"scheduling_threshold": "fixed", "scheduling_threshold_value": 60}))
    assert lease(fixed, "2").first_run() == 0


# ------------------------------------------------- hypervisor failures (daemon)
def test_requeue_after_a_failed_start_avoids_the_failed_host():
    from galerna.schedule.scheduler import LeaseScheduler

    core = LeaseScheduler(SITE2)
    core.submit(be(1, 0, 1000), 0)
    L = core.leases["1"]
    (bad,) = L.phases[0].hosts
    assert L.state.value == "active"
    events = core.requeue("1", 10, "deploy failed: boom", avoid=(bad,))
    assert events is not None and any(e.notice.value == "preempted" for e in events)
    assert L.state.value == "active" and L.phases[0].hosts == (1 - bad,) and L.phases[0].start == 10
    assert [(p.start, p.end) for p in L.lost] == [(0, 10)]
    assert L.remaining == 1000  # the lost run counts for nothing
    # Compression never brings it back to the failed host.
    core.submit(be(2, 20, 5), 20)
    core.vms_finished("2", 22)
    assert L.phases[0].hosts == (1 - bad,)


def test_a_disabled_host_takes_no_new_placement_and_its_return_moves_reservations_onto_it():
    from galerna.schedule.scheduler import LeaseScheduler

    core = LeaseScheduler(SITE2, config(scheduling={"backfilling": "conservative"}))
    core.submit(be(1, 0, 1000), 0)
    (busy,) = core.leases["1"].phases[0].hosts
    assert core.set_host_enabled(1 - busy, False, 0) is False
    core.submit(be(2, 5, 100), 5)
    L = core.leases["2"]
    # The other host is off: lease 2 waits for lease 1's host, though a host stands idle.
    assert L.state.value == "scheduled" and L.phases[0].hosts == (busy,) and L.phases[0].start == 1000
    assert core.set_host_enabled(1 - busy, True, 50) is True
    core.advance(50)
    assert L.state.value == "active" and L.phases[0].hosts == (1 - busy,) and L.phases[0].start == 50


def test_requeue_of_a_failed_boot_and_of_a_failed_resume():
    from galerna.schedule.scheduler import LeaseScheduler

    core = LeaseScheduler(SITE2, config(scheduling={"boot_overhead": 30}))
    core.submit(be(1, 0, 100), 0)
    assert core.leases["1"].phases[0].activity.value == "boot"
    assert core.requeue("1", 5, "boot failed") is not None
    assert core.leases["1"].state.value == "active"  # booting again at once, the site being free
    # A resuming lease goes back to the queue suspended and resumes again later.
    core2 = LeaseScheduler(Site.uniform(1))
    core2.submit(be(1, 0, 1000), 0)
    core2.submit(ar(2, 0, 500, 100), 0)
    core2.advance(600)  # suspended at 468..500, resuming from 600
    L = core2.leases["1"]
    assert L.state.value == "resuming"
    assert core2.requeue("1", 610, "restore failed") is not None
    assert L.state.value in ("resuming", "suspended-scheduled") and L.suspensions == 1
    core2.advance(10_000)
    assert L.state.value == "done"


def test_requeue_refuses_a_lease_that_is_not_starting():
    from galerna.schedule.scheduler import LeaseScheduler

    core = LeaseScheduler(SITE2)
    core.submit(ar(1, 0, 500, 100), 0)
    assert core.requeue("1", 10) is None



def test_a_finished_lease_keeps_no_compression_memo(traces_dir):
    r = sim(traces_dir, "reservation_prematureend")  # lease 2 is compressed, then finishes
    done = {l.id: l for l in r.leases}
    assert done["2"].history[0].start == 1800
    assert all(l.memo is None for l in r.leases)


def test_a_run_collects_garbage_less_often_and_restores_the_collector(traces_dir):
    import gc

    from galerna.sim.engine import RUN_GC_THRESHOLD

    w = load_workload(traces_dir / "tests" / "reservation_prematureend.lwf")
    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    seen = []
    Simulation(w.site, config(), w.requests).run(
        on_progress=lambda n: seen.append((gc.get_threshold()[0], gc.get_freeze_count())))
    assert seen and all(t == max(before[0], RUN_GC_THRESHOLD) and f > frozen for t, f in seen)
    assert gc.get_threshold() == before and gc.get_freeze_count() == frozen
