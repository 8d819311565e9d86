"""Re-binding a future reservation to other hosts so that a backfill fits (issue 14 §5), worked out by hand.

The three-job example on 4 hosts of 1 CPU (greedy host selection, hosts h0..h3):
lease 1 (2 nodes, 1000 s) runs on h0, h1 from 0. Lease 2, the head (3 nodes,
2000 s, submitted at 1), cannot start now and is reserved at [1000, 3000) on the
hosts carrying fewest leases there: h2, h3 and h0. Lease 3 (1 node, 5000 s,
submitted at 2) fits on the site's free count over [2, 5002) — two hosts free
until 1000, then one (h1) — so EASY starts it now; but h2 and h3, free now, are
bound to the head from 1000, and h1 is busy until then. Re-bound to h0, h1 and h3
(free for all of [1000, 3000)), the head leaves h2 to lease 3 from 2.
"""
import pytest

from galerna.model.site import Site
from galerna.schedule.plan import Notice
from galerna.schedule.scheduler import LeaseScheduler
from helpers import ar, be, check, config, lease, phases, run, write

SITE4 = Site.uniform(4)
THREE_JOBS = [be(1, 0, 1000, nodes=2), be(2, 1, 2000, nodes=3), be(3, 2, 5000)]
MODES = ["aggressive", "conservative"]


def cfg(mode, on, **more):
    return config(scheduling={"backfilling": mode, "rebind": on, **more})


@pytest.mark.parametrize("mode", MODES)
def test_without_rebinding_the_head_reservation_holds_off_a_backfill_that_fits(mode):
    r = run(SITE4, THREE_JOBS, cfg(mode, False))
    head = phases(r, "2")
    assert head[0][1:3] == (1000, 3000)
    assert set(head[0][3]) == {0, 2, 3}
    # Lease 3 waits for h1, free from 1000 (lease 1's end) on.
    assert phases(r, "3") == [("run", 1000, 6000, (1,))]


@pytest.mark.parametrize("mode", MODES)
def test_rebinding_moves_the_head_to_other_hosts_and_the_backfill_starts_now(mode, tmp_path):
    r = run(SITE4, THREE_JOBS, cfg(mode, True))
    (run3,) = phases(r, "3")
    assert run3[:3] == ("run", 2, 5002)
    (h3,) = run3[3]
    assert h3 in (2, 3)
    (head,) = phases(r, "2")
    # The head still starts and ends at its time, now on hosts that leave lease 3's alone.
    assert head[:3] == ("run", 1000, 3000)
    assert h3 not in head[3] and len(set(head[3])) == 3
    assert lease(r, "1").first_run() == 0
    write(r, tmp_path)
    check(tmp_path, 3)  # no host double-booked, every lease run as asked


@pytest.mark.parametrize("mode", MODES)
def test_the_move_is_announced_as_a_moved_reservation_before_the_backfill_is_placed(mode):
    core = LeaseScheduler(SITE4, cfg(mode, True))
    for r in THREE_JOBS[:2]:
        core.submit(r, r.submit)
    before = core.leases["2"].phases[0].hosts
    events = core.submit(THREE_JOBS[2], 2)
    moved = [e for e in events if e.notice is Notice.SCHEDULED and e.moved]
    assert [(e.lease_id, e.until, e.detail) for e in moved] == [("2", 1000, "same start, other hosts")]
    assert set(moved[0].hosts) != set(before)
    placed = next(i for i, e in enumerate(events) if e.lease_id == "3" and e.notice is Notice.SCHEDULED)
    assert events.index(moved[0]) < placed
    assert core.leases["3"].phases[0].start == 2
    assert core.stats.rebinds == 1
    # The slot table agrees with the plans: the head's new hosts are taken over its interval, h0/h1's
    # lease 1 until 1000, and lease 3's host from 2; nothing is free twice.
    slots = core.slots
    free = slots.window(1000, 3000)[:, 0]
    taken = set(core.leases["2"].phases[0].hosts) | set(core.leases["3"].phases[0].hosts)
    assert taken == {0, 1, 2, 3}
    assert (free == 0).all()


@pytest.mark.parametrize("mode", MODES)
def test_no_move_when_no_other_hosts_are_free_for_the_whole_reservation(mode):
    # Packing host selection (fullest host first, ties by index): lease 1 runs on h0, h1 until 1000; an AR
    # holds h0 over [2500, 2600), so the head is reserved on h1, h2, h3 over [1000, 3000). Lease 3 (2000 s)
    # fits on the free count over [2, 2002) (h2, h3 until 1000, then h0), but moving the head off h2 or h3
    # would need h0 for all of [1000, 3000): no move. Without suspension (no partial run before the AR)
    # lease 3 waits for h0 after the AR, at 2600.
    reqs = [be(1, 0, 1000, nodes=2), ar(9, 0, 2500, 100), be(2, 1, 2000, nodes=3), be(3, 2, 2000)]
    off = run(SITE4, reqs, cfg(mode, False, host_selection="packing", suspension="none"))
    on = run(SITE4, reqs, cfg(mode, True, host_selection="packing", suspension="none"))
    assert phases(on, "9")[0][3] == (0,)
    for r in (off, on):
        assert phases(r, "2")[0][:3] == ("run", 1000, 3000)
        assert set(phases(r, "2")[0][3]) == {1, 2, 3}
        assert phases(r, "3") == [("run", 2600, 4600, (0,))]
    core = LeaseScheduler(SITE4, cfg(mode, True, host_selection="packing", suspension="none"))
    for r in reqs:
        core.submit(r, r.submit)
    assert core.stats.rebinds == 0
    assert set(core.leases["2"].phases[0].hosts) == {1, 2, 3}


@pytest.mark.parametrize("mode", MODES)
def test_an_ar_is_never_rebound(mode):
    # The three-job example with the head an AR at [1000, 3000): its hosts were given to its owner when
    # it was accepted, so lease 3 is not let in on them and waits for h1 as without re-binding (no
    # suspension: else it would run on h2 until the AR and be suspended).
    reqs = [be(1, 0, 1000, nodes=2), ar(2, 1, 1000, 2000, nodes=3), be(3, 2, 5000)]
    off = run(SITE4, reqs, cfg(mode, False, suspension="none"))
    on = run(SITE4, reqs, cfg(mode, True, suspension="none"))
    assert set(phases(on, "2")[0][3]) == set(phases(off, "2")[0][3]) == {0, 2, 3}
    assert phases(on, "3") == phases(off, "3") == [("run", 1000, 6000, (1,))]


def test_with_image_transfers_modelled_rebinding_declines():
    # A reservation's image is sent to its own hosts: moving it would mean re-planning the send.
    c = config(scheduling={"backfilling": "aggressive", "rebind": True},
               imagetransfer={"preparation": "imagetransfer", "default_image_size": 0})
    core = LeaseScheduler(SITE4, c)
    for r in THREE_JOBS:
        core.submit(r, r.submit)
    assert core.stats.rebinds == 0
    assert [L.id for L in core.queue] == ["3"]  # it waits: the hosts free now stay bound to the head
    r = run(SITE4, THREE_JOBS, c)
    assert lease(r, "3").first_run() >= 1000


def test_rebinding_is_on_by_default():
    assert config().scheduling.rebind is True


@pytest.mark.parametrize("mode, first, last", [("aggressive", 600, 1000), ("conservative", 700, 1000)])
def test_blue_horizon_jobs_with_rebinding_pass_the_independent_checker(mode, first, last, traces_dir, tmp_path):
    # A slice of the 30-day Blue Horizon trace (144 nodes, no suspension) in which reservations get re-bound.
    from galerna.readers import load_workload
    from galerna.sim.engine import Simulation

    c = config(site={"nodes": 144, "cpu": 1, "memory": 1024}, trace={"swf_cancelled": "drop"},
               scheduling={"backfilling": mode, "suspension": "none", "rebind": True})
    reqs = load_workload(traces_dir / "blue" / "30days.swf", c.trace).requests[first:last]
    sim = Simulation(Site.uniform(144), c, reqs)
    r = sim.run()
    assert sim.core.stats.rebinds > 0
    write(r, tmp_path)
    check(tmp_path, last - first)


def _easy():
    """benchmarks/easy_backfill.py, the plain EASY backfiller the figures compare with."""
    import importlib.util
    import sys
    from pathlib import Path

    if "easy_backfill" not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "benchmarks" / "easy_backfill.py"
        spec = importlib.util.spec_from_file_location("easy_backfill", path)
        sys.modules["easy_backfill"] = importlib.util.module_from_spec(spec)  # its dataclasses look it up
        spec.loader.exec_module(sys.modules["easy_backfill"])
    return sys.modules["easy_backfill"]


def test_plain_easy_on_the_three_job_example_starts_the_backfill_now():
    easy = _easy()
    jobs = [easy.Job("1", 0, 2, 1000, 1000), easy.Job("2", 1, 3, 2000, 2000), easy.Job("3", 2, 1, 5000, 5000),
            easy.Job("4", 3, 2, 100, 100)]
    starts = {r.job.id: r.start for r in easy.easy_schedule(jobs, 4)}
    # The head's shadow time is 1000 with one node to spare: lease 3 takes it now. Lease 4 would end before
    # 1000, but only one node is free at 3 (lease 3 has the other); it waits for the head's end, at 3000.
    assert starts == {"1": 0, "2": 1000, "3": 2, "4": 3000}


def test_aggressive_backfilling_with_rebinding_starts_every_job_when_plain_easy_does(traces_dir):
    # On identical 1-CPU nodes without overheads, EASY (benchmarks/easy_backfill.py: the head's reservation at its
    # shadow time, a backfill when it fits on the free count and delays the head by nothing) is what aggressive
    # backfilling means; Galerna's binding to hosts was the only difference. A slice of the Blue Horizon trace.
    from galerna.readers import load_workload
    from galerna.sim.engine import Simulation

    easy = _easy()
    starts = {}
    for on in (False, True):
        c = config(site={"nodes": 144, "cpu": 1, "memory": 1024}, trace={"swf_cancelled": "drop"},
                   scheduling={"backfilling": "aggressive", "suspension": "none", "rebind": on})
        reqs = load_workload(traces_dir / "blue" / "30days.swf", c.trace).requests[600:1000]
        r = Simulation(Site.uniform(144), c, reqs).run()
        starts[on] = {L.id: L.first_run() for L in r.leases}
    jobs = [easy.Job(q.id, q.submit, len(q.nodes), q.duration, min(q.runtime, q.duration)) for q in reqs]
    reference = {ran.job.id: ran.start for ran in easy.easy_schedule(jobs, 144)}
    assert starts[True] == reference
    assert starts[False] != reference  # bound to hosts, some backfills waited


def test_a_released_reservation_whose_hosts_are_still_free_keeps_them():
    # Conservative, 5 hosts: lease 1 (3 nodes) on h0, h1, h2 until 1000; the head (3 nodes) reserved at
    # [1000, 3000) on h3, h4 (fewest leases) and h0; lease 4 (3 nodes, 1000 s, at 1.5) reserved after it, at
    # [3000, 4000) on h0, h1, h2. Lease 3 (1 node, 5000 s, at 2) fits on the free count (two hosts free
    # throughout). Trying, lease 4 is released first (latest in the queue), which does not help, then the head:
    # lease 3 takes h3 or h4. Lease 4's own hosts are still free, so it keeps them; only the head moves.
    reqs = [be(1, 0, 1000, nodes=3), be(2, 1, 2000, nodes=3), be(4, 1.5, 1000, nodes=3), be(3, 2, 5000)]
    core = LeaseScheduler(Site.uniform(5), cfg("conservative", True))
    for r in reqs[:3]:
        core.submit(r, r.submit)
    assert set(core.leases["2"].phases[0].hosts) == {0, 3, 4}
    four = core.leases["4"].phases[0]
    assert (four.start, four.end, set(four.hosts)) == (3000, 4000, {0, 1, 2})
    events = core.submit(reqs[3], 2)
    assert [e.lease_id for e in events if e.moved] == ["2"]
    assert core.leases["4"].phases[0].hosts == four.hosts
    (h3,) = core.leases["3"].phases[0].hosts
    assert core.leases["3"].phases[0].start == 2 and h3 in (3, 4)
    head = core.leases["2"].phases[0]
    assert (head.start, head.end) == (1000, 3000) and h3 not in head.hosts and len(set(head.hosts)) == 3
    assert core.stats.rebinds == 1
