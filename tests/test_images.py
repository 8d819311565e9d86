"""The image repository on its own: link holes, copies per host, the LRU cache."""
from hypothesis import given, settings
from hypothesis import strategies as hst

from galerna.config.schema import ImageTransferConfig
from galerna.model.lease import DiskImage, LeaseRequest, LeaseType
from galerna.schedule.images import ImageRepository, Transfer


def req(i, image="a", size=100.0, nodes=1):
    return LeaseRequest(str(i), LeaseType.BE, 0, 10, tuple({"cpu": 1, "memory": 1} for _ in range(nodes)),
                        image=DiskImage(image, size))


def repo(**kw):
    return ImageRepository(ImageTransferConfig(preparation="imagetransfer", bandwidth=10, **kw), 3)


def test_first_hole_is_after_the_transfers_already_planned():
    r = repo()
    t1 = r.plan(req(1), (0,), 1000, 0, latest_hole=False)
    r.hold(t1, req(1))
    assert (t1.start, t1.end) == (0, 10)
    t2 = r.plan(req(2, "b"), (1,), 1000, 0, latest_hole=False)
    assert (t2.start, t2.end) == (10, 20)


def test_latest_hole_ends_at_the_deadline_or_before_the_next_transfer():
    r = repo()
    t1 = r.plan(req(1), (0,), 100, 0, latest_hole=True)
    assert (t1.start, t1.end) == (90, 100)
    r.hold(t1, req(1))
    t2 = r.plan(req(2, "b"), (1,), 95, 0, latest_hole=True)
    assert (t2.start, t2.end) == (80, 90)  # [90, 100) is taken
    assert r.plan(req(3, "c"), (2,), 5, 0, latest_hole=True) is None  # 10 s cannot fit before 5


def test_a_lease_needs_one_copy_per_host_and_unicast_sends_them_in_turn():
    r = repo()
    t = r.plan(req(1, nodes=3), (0, 0, 1), 1000, 0, latest_hole=False)
    assert t.hosts == (0, 1) and t.end - t.start == 20
    m = repo(transfer_mode="multicast").plan(req(1, nodes=3), (0, 0, 1), 1000, 0, latest_hole=False)
    assert m.end - m.start == 10


def test_dropped_transfer_frees_the_link_and_the_copies():
    r = repo()
    t = r.plan(req(1), (0,), 1000, 0, latest_hole=False)
    r.hold(t, req(1))
    r.drop(t)
    assert r.mine == {} and r.copies_of(req(1)) == 0
    assert r.plan(req(2, "b"), (1,), 1000, 0, latest_hole=False).start == 0


def test_lru_eviction_spares_images_in_use():
    r = repo(reuse=True, cache_size=200)
    for i, img in enumerate(("a", "b")):
        t = r.plan(req(i, img), (0,), 1000 + i, i * 10, latest_hole=False)
        r.hold(t, req(i, img))
    r.use(req(0, "a"), (0,), 50)  # "a" is needed by a planned lease
    t = r.plan(req(2, "c"), (0,), 2000, 100, latest_hole=False)
    r.hold(t, req(2, "c"))
    assert set(r.cache[0]) == {"a", "c"}  # "b" was the idle one


def test_a_send_arrives_no_sooner_than_the_first_hole_that_fits_it():
    r = repo()
    busy = r.plan(req(1), (0,), 1000, 0, latest_hole=False)
    r.hold(busy, req(1))  # the link is taken over [0, 10)
    assert r.could_arrive_by(req(2, "b"), 20, 0, None)  # [10, 20)
    assert not r.could_arrive_by(req(2, "b"), 19, 0, None)
    # Giving up a transfer planned on the link frees its stretch for the same lease,
    # and the stretch begins where the free time before that transfer begins.
    mine = r.plan(req(3, "c"), (1,), 1000, 0, latest_hole=False)
    r.hold(mine, req(3, "c"))  # [10, 20)
    r.link.reserve(20, 500, (1.0,))
    assert not r.could_arrive_by(req(4, "d"), 100, 0, None)  # first hole: 500
    assert r.could_arrive_by(req(3, "c"), 20, 0, planned_at=10)  # its own [10, 20) back


def test_copy_hosts_leave_out_those_a_planned_transfer_brings():
    r = repo(transfer_mode="multicast")
    first = r.plan(req(1, nodes=2), (0, 1), 1000, 0, latest_hole=False)
    r.hold(first, req(1, nodes=2))
    later = r.plan(req(1, nodes=2), (1, 2), 2000, 0, latest_hole=False)
    assert later.hosts == (2,)  # host 1 already has it
    r.hold(later, req(1, nodes=2))
    assert r.copy_hosts(req(1)) == {0, 1, 2}
    assert r.copy_hosts(req(1), besides=later) == {0, 1}
    v = r.copies_version(req(1))
    r.drop(later)
    assert r.copy_hosts(req(1)) == {0, 1} and r.copies_version(req(1)) != v
    assert r.ready_on(req(1), 0) == first.end
    r.unuse(req(1), (0,))  # without reuse, the lease's copies go with it: on every host
    assert r.copy_hosts(req(1)) == set() and r.copies_version(req(1)) == 0


# ------------------------------------------- the link's questions against an oracle

HORIZON = 80


def busy_cells(sends):
    """The unit cells [k, k + 1) the planned sends take on the link."""
    return {k for s, e in sends for k in range(s, e)}


def oracle_first_hole(busy, now, length):
    t = now
    while any(k in busy for k in range(t, t + length)):
        t += 1
    return t


def oracle_arrival(busy, now, length, planned):
    first = oracle_first_hole(busy, now, length)
    if planned is not None and planned < first:
        b = planned
        while b > 0 and b - 1 not in busy:  # the free stretch right before the given-up send
            b -= 1
        first = max(b, now)
    return first + length


def oracle_could_send_before(busy, now, length, sent_at):
    if sent_at <= now:
        return False
    return sent_at - 1 not in busy or oracle_first_hole(busy, now, length) < sent_at


@settings(max_examples=300, deadline=None)
@given(hst.lists(hst.tuples(hst.integers(0, 60), hst.integers(1, 8)), max_size=10),
       hst.integers(0, 70), hst.integers(1, 12), hst.integers(0, 9), hst.integers(0, HORIZON))
def test_arrival_and_could_send_before_match_the_oracle(sends, now, length, pick, sent_at):
    r = repo()
    planned = []
    for s, n in sends:
        if r.link.fits(s, s + n, (1.0,)):
            r.link.reserve(float(s), float(s + n), (1.0,))
            r.link.coalesce(float(s), float(s + n))
            planned.append((s, s + n))
    busy = busy_cells(planned)
    lease = req(1, size=10.0 * length)  # bandwidth 10: the shortest send takes ``length``
    at = planned[pick % len(planned)][0] if planned and pick < 8 else None
    assert r.earliest_arrival(lease, float(now), None if at is None else float(at)) == \
        oracle_arrival(busy, now, length, at)
    assert r.could_send_before(lease, float(sent_at), float(now)) == \
        oracle_could_send_before(busy, now, length, sent_at)
    # The answers are remembered per version of the link: a change must be seen.
    r.link.reserve(float(HORIZON), float(HORIZON + 100), (1.0,))
    busy |= set(range(HORIZON, HORIZON + 100))
    assert r.earliest_arrival(lease, float(now), None) == oracle_arrival(busy, now, length, None)


@settings(max_examples=300, deadline=None)
@given(hst.lists(hst.tuples(hst.integers(0, 60), hst.integers(1, 8)), min_size=1, max_size=10),
       hst.integers(0, 70), hst.integers(1, 12), hst.integers(0, 9))
def test_ready_without_is_earliest_ready_once_the_transfer_is_dropped(sends, now, length, pick):
    """Compression asks where a send could end with a lease's transfer given up, before
    dropping it: the answer is the dropped link's first hole plus the send, and a drop
    then a hold leave the link as it was (coalesced held transfers: no breakpoint at
    their ends separates equal segments)."""
    r = repo()
    held = []
    for i, (s, n) in enumerate(sends):
        if r.link.fits(s, s + n, (1.0,)):
            tr = Transfer(str(i), "a", float(s), float(s + n), (0,))
            r.hold(tr, req(i))
            held.append((tr, req(i)))
    tr, lease = held[pick % len(held)]
    rest = busy_cells([(int(t.start), int(t.end)) for t, _ in held if t is not tr])
    got = r.ready_without(float(now), float(length), tr)
    before = (list(r.link.times), list(r.link.free[0]))
    r.drop(tr)
    assert got == r.link.first_hole(float(now), float(length)) + length == oracle_first_hole(rest, now, length) + length
    r.hold(tr, lease)
    assert (list(r.link.times), list(r.link.free[0])) == before
    assert r.ready_without(float(now), float(length), None) == r.link.first_hole(float(now), float(length)) + length
