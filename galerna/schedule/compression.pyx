# cython: language_level=3
"""Compression: move future reservations earlier into capacity freed before their time.

One pass in queue order. A lease is re-planned only when capacity freed since
the last pass could serve it (the filters in :meth:`Compressor.compress`);
otherwise re-planning it would only cost time. Each re-plan is a trial on the
ledger: the lease's reservation is released (its breakpoints kept), searched
again, and held again where it was unless the search found an earlier start.
Such a move is yielded as ``Move`` for the front door to apply.

Known limit: capacity a move vacated serves the leases after it in this pass,
not those it had already passed by (re-planning every lease at every
compression would give them a chance; on the squeezed Blue trace that costs 4x
the time).

Compiled (Cython) because this loop runs over every reservation after every
premature end: its own interpreter overhead (the filters' attribute walks and
the site-wide fit loop) was a large share of compression. Before its window a
candidate costs little interpreter work: what the filter reads of its plan
(held length, own slot, own hosts, smallest VM) is read once per plan into a
``_Plan`` of C doubles, the freed window is ``FreedSpans.window_c`` (freed.pxd, walking
the own hosts' timelines through timeline.pxd), the site fit
``hostfit.site_fits``; with images (and no reuse) the link's questions are C
methods of the image repository (images.pxd) on the link's own lists. Only
survivors reach ``hosts_could_start_runs`` and a re-plan. Every value compared
or handed on is the double the Python code computed, so plans are
byte-identical.
"""

from libc.math cimport INFINITY
from libc.stdlib cimport free, malloc

from galerna.schedule.bisection cimport left, list_left

from galerna.schedule.freed cimport FreedSpans
from galerna.schedule.hostfit cimport site_fits
from galerna.schedule.images cimport ImageRepository
from galerna.schedule.timeline cimport Timeline

from galerna.config.schema import MigrationMode
from galerna.model.lease import LeaseType
from galerna.model.state import LeaseState as S
from galerna.schedule.decisions import Move
from galerna.schedule.hostfit import FitRuns, hosts_could_start, hosts_could_start_runs
from galerna.schedule.mapper import total_demand
from galerna.schedule.phases import begins, stretches
from galerna.schedule.search import want_of
from galerna.schedule.slottable import demand_per_host
from galerna.schedule.timeline import EPS

cdef double _EPS = 1e-9


cdef enum:  # what _image_rule tells of a lease's starts
    _ANY = 0  # its image rules nothing out
    _NO_START = 1  # none earlier than its held one
    _IN_PLACE = 2  # only on its own hosts
    _MAY_SEND = 3  # a send could come in time: not before it arrives


cdef object _SUSPENDED_QUEUED = S.SUSPENDED_QUEUED  # read once: an enum member read from compiled
cdef object _SUSPENDED_SCHEDULED = S.SUSPENDED_SCHEDULED  # code goes through the type's __getattr__ hook


cdef inline int _read_image(_Memo memo, ImageRepository images, lease) except -1:
    """The lease's image facts into its memo, once: the image, (image, lease id), the
    shortest send of it (``image`` stays None when it needs none)."""
    if not memo.image_read:
        img = images.image_of(lease.req)
        if img is not None:
            memo.image, memo.image_key, memo.shortest = img[0], (img[0], lease.req.id), images.shortest_send(img[1])
        memo.image_read = True
    return 0


cdef int _image_rule(self, _Memo memo, ImageRepository images, lease, list held, tuple own, double length,
                     old_start, earliest, latest, now, double *arrive) except -1:
    """What the lease's image allows, without image reuse: a lease can start earlier
    elsewhere only once its image is sent there. If the link cannot send it any
    sooner, a lease about to send it can only move to hosts that already hold a copy
    of it, and one whose hosts already hold it can only move in place. _MAY_SEND
    leaves in ``arrive`` the soonest a send could end.

    Asked of every candidate of every pass (two million times on vm-transfer), nearly
    always answered _MAY_SEND: that path reads C fields (the memo's, and its _Plan's,
    which compress has just read for this lease) and does no dictionary look-up."""
    cdef double dnow = now
    cdef _Plan rec = memo.plan  # this lease's, as compress read it just now
    _read_image(memo, images, lease)
    image = memo.image
    if image is None:
        return _ANY  # nothing to send
    first = rec.p0  # lease.phases[0]
    tr = first.transfer
    state = rec.state
    if state is _SUSPENDED_QUEUED or state is _SUSPENDED_SCHEDULED:
        copies = images.owned.get(memo.image_key, 0)
        if tr is not None and copies == len(tr.copies):
            if not images.could_send_before_c(dnow, memo.shortest, first.start):
                return _NO_START
        elif tr is None and images.holds_own_c(image, lease.req.id, own, copies, old_start):
            if not images.could_send_before_c(dnow, memo.shortest, old_start):
                return _IN_PLACE
        return _ANY
    arrive[0] = images.arrival_c(dnow, memo.shortest, first.start if tr is not None else None)
    if arrive[0] <= <double>latest + _EPS:
        return _MAY_SEND
    if tr is None and images.holds_own_c(image, lease.req.id, own, images.owned.get(memo.image_key, 0), old_start):
        return _IN_PLACE
    if not _copies_could_serve(self, memo, images, lease, held, _shape(self, memo, lease)[1], length, earliest,
                               latest, now):
        return _NO_START
    return _ANY


cdef bint _copies_could_serve(self, _Memo memo, ImageRepository images, lease, list held, small, double length,
                              earliest, latest, now) except -1:
    """Whether the hosts holding copies of the lease's image (other than those its
    planned transfer brings) could take it by ``latest``, when no send can.

    Told only when each of those hosts fits at most one of its VMs: then as many
    of them as it has VMs must be free at once. Its own slot counts as taken, so
    windows are cut where that slot begins. The earliest such start is
    remembered until the lease's copies or one of those hosts change.
    """
    if not held:
        return True
    cdef tuple got = _copies_of(self, memo, images, lease, small), last, seen
    cdef list order = got[6], tls
    if order is None:
        return not got[4]  # fewer hosts than VMs cannot; else not told
    cdef double before = held[0].start, de = earliest, dn = now
    cdef double start_from = dn if dn > de else de  # max(earliest, now)
    cdef Py_ssize_t i, n = len(order)
    slots = self.ctx.slots
    tls = slots.hosts
    last = got[7]  # (before, length, the hosts' versions, start_from, earliest start found)
    if last is not None and <double>last[0] == before and <double>last[1] == length:
        seen = last[2]
        for i in range(n):
            if (<Timeline>tls[order[i]]).version != <long>seen[i]:
                break
        else:
            if start_from >= <double>last[3] and (last[4] is None or <double>last[4] >= start_from):
                return last[4] is not None and <double>last[4] <= <double>latest + _EPS
    versions = tuple([(<Timeline>tls[h]).version for h in order])
    start = slots.earliest_on_enough(order, small, len(lease.vecs), length, start_from, before)
    memo.copies_start = got[:7] + ((before, length, versions, start_from, start),)
    return start is not None and <double>start <= <double>latest + _EPS


cdef tuple _copies_of(comp, _Memo memo, ImageRepository images, lease, small):
    """What _copies_could_serve and _search_from read of the hosts holding copies of the
    lease's image that its first phase's transfer does not bring (images.copy_hosts):
    (copies version, transfer, VM vectors, VM size, whether they are fewer than its VMs,
    whether each of them fits at most one VM of that size, sorted when both tell
    _copies_could_serve something, and what that last found: see there), kept in
    ``memo.copies_start``. Read anew only when the lease's copies change (their version
    does) or the transfer, vectors or size are other objects: nothing else changes them."""
    _read_image(memo, images, lease)
    cdef long version = images._copies_changed.get(memo.image_key, 0) if memo.image is not None else 0
    tr = memo.plan.p0.transfer  # lease.phases[0]'s
    vecs = lease.vecs
    cdef tuple got = memo.copies_start
    if got is not None and <long>got[0] == version and got[1] is tr and got[2] is vecs and got[3] is small:
        return got
    hosts = images.copy_hosts(lease.req, tr)
    few = len(hosts) < len(vecs)
    one_vm = hosts <= comp.ctx.shapes.one_vm_hosts(small)
    got = memo.copies_start = (version, tr, vecs, small, few, one_vm, sorted(hosts) if not few and one_vm else None,
                               None)
    return got


cdef double _search_from(self, _Plan rec, ImageRepository images, lease, double start, now) except? -1.0:
    """Where a re-plan's search (Search.find) would start, from ``start``: when the lease's
    image must then be sent, not before it could be there over the link with the lease's
    own transfer given up. Asked before the re-plan releases anything, so the link and
    the copies are read as they would be once it has. Never later than the search's
    start; ``start`` itself when not told."""
    if images is None:
        return start
    cdef Py_ssize_t k
    for k in range(1, rec.nphases):
        if rec.phases[k].transfer is not None:
            return start  # one transfer, the first phase's, is all this reads
    cdef _Memo memo = <_Memo>lease.memo  # compress's for this lease (_memo_of)
    cdef tuple got = _copies_of(self, memo, images, lease, rec.small)  # what Search._must_send reads once it is dropped
    if not got[4] or not got[5]:
        return start
    if memo.image is None:
        return start if start >= now else now  # earliest_ready: now
    cdef double ready = images.ready_without_c(now, images.seconds_c(memo.shortest, lease.req.n_nodes),
                                               rec.p0.transfer)
    return ready if ready > start else start


cdef inline bint _has_point(list times, t) except -1:
    cdef Py_ssize_t k = list_left(times, 0, t)
    return k < len(times) and <double>times[k] == <double>t


cdef inline bint _has_step(Timeline tl, double t) noexcept:
    """Whether ``t`` is one of the timeline's breakpoints."""
    cdef Py_ssize_t k = left(tl.s.t, 0, tl.s.n, t)
    return k < tl.s.n and tl.s.t[k] == t


cdef bint _as_if_replanned(_Plan rec, slots, ImageRepository images) except -1:
    """Whether the slot table and the image link are now as a futile re-plan of the
    lease would leave them (released without tidying, searched, held again), so that
    ruling it out changes nothing. That re-plan splits the grid and the lease's hosts'
    timelines at its stretches' ends (merged there by the release or not): those must
    be breakpoints already. It drops and holds its transfer, which coalesces the link
    at the transfer's ends: a breakpoint there must not separate equal segments. (The
    free capacity it gives back and takes again is the same double when the demands
    are whole numbers, as in every study: x + d - d; SlotTable.whole says so.)"""
    if not slots.whole:
        return False
    if rec.stretches is None:
        rec.stretches = stretches(rec.phases)  # from now on: its held phases lie ahead
    cdef list times = slots.times, tls = slots.hosts
    cdef Timeline tl
    cdef Py_ssize_t k, n
    for s, e, hosts in rec.stretches:
        if not _has_point(times, s) or not _has_point(times, e):
            return False
        for h in hosts:
            tl = <Timeline>tls[h]
            if not _has_step(tl, s) or not _has_step(tl, e):
                return False
    tr = rec.p0.transfer
    if tr is None or not tr.end > tr.start:
        return True
    tl = images.link
    n = tl.s.n
    for t in (tr.start, tr.end):
        k = left(tl.s.t, 0, n, t)
        if 0 < k < n and tl.s.t[k] == <double>t and \
                abs(tl.s.f[k * tl.nres] - tl.s.f[(k - 1) * tl.nres]) <= _EPS:
            return False
    return True


cdef class _Memo:
    """What one Compressor remembers of one lease, kept on the lease (``Lease.memo``) so
    that a candidate costs an attribute read: its _Plan, its image facts, its shape and
    per-host demand, what _copies_could_serve found. Valid only for ``owner``, the
    Compressor that wrote it; ``Compressor.forget`` drops it."""
    cdef object owner
    cdef _Plan plan
    cdef bint image_read  # image, image_key, shortest hold _image_rule's facts
    cdef object image, image_key
    cdef double shortest
    cdef tuple shape, need, copies_start  # see _shape, _need, _copies_could_serve


cdef inline _Memo _memo_of(comp, lease):
    """The lease's memo for ``comp``; a fresh one if it has none or another's."""
    got = lease.memo
    if got is not None and (<_Memo?>got).owner is comp:
        return <_Memo>got
    cdef _Memo memo = _Memo.__new__(_Memo)
    memo.owner = comp
    lease.memo = memo
    return memo


cdef tuple _shape(comp, _Memo memo, lease):
    """The lease's smallest VM and total demand, remembered while its VM vectors are
    the same object (hashing them per candidate, per pass, was a large share)."""
    vecs = lease.vecs
    cdef tuple got = memo.shape
    if got is None or got[0] is not vecs:
        got = memo.shape = (vecs, comp.ctx.shapes.smallest(vecs), total_demand(vecs))
    return got


cdef _need(_Memo memo, lease, hosts):
    """What the lease's VMs add up to on each of ``hosts`` (its held phase's), remembered
    while the hosts and VM vectors are the same objects. Read, never changed."""
    vecs = lease.vecs
    cdef tuple got = memo.need
    if got is None or got[0] is not hosts or got[1] is not vecs:
        got = memo.need = (hosts, vecs, demand_per_host(zip(hosts, vecs)))
    return got[2]


cdef class _Plan:
    """What compression's filter reads of one lease's plan: its phases, the holding ones,
    where it begins, its held length and own slot [m0, m1) as C doubles, its own hosts, its
    smallest VM and total demand. Read afresh whenever the lease's phases, version, VM
    vectors or state are other objects (an edit in place bumps the version) or its
    phase list is shorter (the applier pops a phase that ended, such as a transfer,
    from the list in place)."""
    cdef object phases, vecs, state, p0, old_start, small, need
    cdef long version
    cdef Py_ssize_t nphases
    cdef list held, stretches  # stretches: see _as_if_replanned
    cdef tuple own
    cdef Py_ssize_t *own_c  # own as C integers (nown of them), for FreedSpans.window_c
    cdef Py_ssize_t nown
    cdef double p0_start, old_start_d, length, m0, m1
    cdef bint held_, deadline, resumes

    def __dealloc__(self):
        free(self.own_c)


cdef _Plan _plan_of(comp, _Memo memo, lease):
    """The lease's _Plan, read anew only when its plan changed."""
    cdef _Plan rec = memo.plan
    cdef Py_ssize_t i
    phases = lease.phases
    if rec is not None and rec.phases is phases and rec.version == lease.version and \
            len(<list>phases) == rec.nphases and rec.vecs is lease.vecs and rec.state is lease.state:
        return rec  # (its length: a phase that ended, such as a transfer, is popped in place)
    rec = _Plan.__new__(_Plan)
    rec.phases, rec.version, rec.vecs, rec.state = phases, lease.version, lease.vecs, lease.state
    rec.nphases = len(phases)
    p0 = rec.p0 = phases[0]
    rec.p0_start = p0.start
    held = rec.held = [p for p in phases if p.holds]
    rec.held_ = bool(held)
    rec.old_start = held[0].start if held else p0.start  # begins(phases)
    rec.old_start_d = rec.old_start
    rec.length = 0.0
    for p in held:
        rec.length += p.end - p.start
    if held:
        rec.m0, rec.m1, rec.own = held[0].start, held[-1].end, held[0].hosts
    else:
        rec.m0, rec.m1, rec.own = INFINITY, -INFINITY, ()
    rec.nown = len(rec.own)
    rec.own_c = <Py_ssize_t *>malloc((rec.nown + 1) * sizeof(Py_ssize_t))
    if rec.own_c == NULL:
        raise MemoryError()
    for i in range(rec.nown):
        rec.own_c[i] = rec.own[i]
    _, rec.small, rec.need = _shape(comp, memo, lease)
    rec.deadline = lease.req.type is LeaseType.DEADLINE
    rec.resumes = rec.state is S.SUSPENDED_SCHEDULED
    memo.plan = rec
    return rec


cdef bint _hosts_could_take(comp, _Plan rec, lease, double earliest) except -1:
    """Whether enough hosts could each take one of a fresh lease's VMs for its whole
    run, from some start in [earliest, its held start): told only where each host
    fits at most one of its VMs (then it needs that many distinct hosts), without
    images (a transfer can only delay a start). Its own slot counts as free on its
    own hosts, the rest of the table as it is; true when not told."""
    if not rec.held_ or rec.resumes or rec.state is S.SUSPENDED_QUEUED:
        return True
    ctx = comp.ctx
    slots = ctx.slots
    small = rec.small
    if len(ctx.shapes.one_vm_hosts(small)) != slots.nhosts:
        return True
    length = ctx.phases.fresh_length(lease)
    if not length > 0:
        return hosts_could_start(slots.grid, slots.times_array(), rec.own, small, len(rec.vecs),
                                 length, earliest, rec.m0)
    runs = comp._fitruns.get(small)
    if runs is None:
        runs = comp._fitruns[small] = FitRuns(small, slots.nhosts)
    return hosts_could_start_runs(runs, slots.hosts, slots.times_array(), rec.own, len(rec.vecs),
                                  length, earliest, rec.m0)


class Compressor:
    def __init__(self, ctx, search):
        self.ctx = ctx
        self.search = search
        self._fitruns = {}  # VM size -> its FitRuns over the hosts' timelines: see _hosts_could_take
        # Per-lease memos live on the leases (Lease.memo, a _Memo): see _memo_of.

    def forget(self, lease):
        """The lease reached a final state: drop its memo (if this Compressor wrote it)."""
        got = lease.memo
        if got is not None and (<_Memo?>got).owner is self:
            lease.memo = None

    def compress(self, now):
        ctx = self.ctx
        book, slots, stats = ctx.book, ctx.slots, ctx.stats
        stats.compressions += 1
        cdef FreedSpans freed = FreedSpans(slots, book.spans, now)
        book.spans = []
        cdef double dnow = now, length, m0, m1, w0, w1, arrive = 0.0
        cdef bint no_migration = ctx.cfg.migration is MigrationMode.NO, in_place, may_send
        cdef int rule
        # Images add filters only without reuse (with it any host may come to hold the
        # image, and a start is only ever delayed by a transfer, never ruled out).
        cdef ImageRepository images = ctx.images if ctx.images is not None and not ctx.images.reuse else None
        cdef bint plain = ctx.images is None  # then (or with images) _hosts_could_take is told
        nsi = ctx.phases.cfg.non_schedulable_interval
        cdef double dnsi = nsi, deps = EPS
        cdef _Plan rec
        cdef _Memo memo
        cdef long hits = 0  # candidates ruled out, added to stats.filter_hits before a yield and at the end
        for lease in list(book.reserved):
            if freed.m == 0:
                break
            # What the filter reads of the plan, as C values kept while the plan is the same.
            memo = _memo_of(self, lease)
            rec = _plan_of(self, memo, lease)
            if rec.p0.started or rec.p0_start <= dnow + _EPS:
                continue
            if not rec.deadline and dnow + dnsi > rec.old_start_d - deps:
                continue  # earliest > latest, as below, on the same doubles
            old, held, old_start = rec.phases, rec.held, rec.old_start
            in_place = no_migration and rec.resumes
            if rec.deadline:
                earliest, latest = ctx.phases.start_window(lease, now)
                latest = min(latest, old_start - EPS)
                if earliest > latest:
                    continue
            elif images is not None or in_place:
                earliest, latest = now + nsi, old_start - EPS  # start_window: (now + interval, inf)
            else:
                earliest = None  # as above, made once the freed window lets the lease through
            # The range of starts worth searching, on C doubles where it can be: None when
            # capacity freed since the last pass surely cannot give it an earlier start.
            length, m0, m1, own = rec.length, rec.m0, rec.m1, rec.own
            may_send = False
            if images is not None and not in_place:
                rule = _image_rule(self, memo, images, lease, held, own, length, old_start, earliest, latest,
                                   now, &arrive)
                if rule == _NO_START:
                    hits += 1
                    continue
                in_place = rule == _IN_PLACE
                may_send = rule == _MAY_SEND
            if in_place and rec.held_:
                # It can only start on its own hosts: only capacity freed there before its
                # start can help, and then one exact question says where.
                window = None
                if freed.any_before(own, old_start):
                    start = slots.earliest_in_place(_need(memo, lease, own), length, max(earliest, now),
                                                    old_start, key=lease.req.id)
                    if start is not None and not start > latest:
                        window = (start, latest)
            else:
                # The freed window, then whether the site as a whole has room in it.
                small, need = rec.small, rec.need
                if not freed.window_c(small, length, rec.old_start_d, rec.own_c, rec.nown, m0, m1, &w0, &w1) or \
                        not site_fits(slots, need, length, w0, w1, rec.old_start_d):
                    window = None
                elif may_send and (arrive > w1 + _EPS or not site_fits(
                        slots, need, length, w0 if w0 >= arrive else arrive, w1, rec.old_start_d)) and \
                        not _copies_could_serve(self, memo, images, lease, held, small, length, earliest, w1,
                                                now):
                    # A start that needs its image sent cannot come before it can arrive;
                    # if none is left in the window, only hosts holding copies can serve.
                    window = None
                else:
                    window = (w0, w1)
            if window is not None and earliest is None:
                earliest, latest = now + nsi, old_start - EPS
            # With images too: a start the search could find needs as many hosts from
            # where it searches (_search_from); the transfer can only delay it further.
            # Ruled out so only when the re-plan it saves would leave the table and the
            # link as they are (_as_if_replanned).
            if window is None or plain and not _hosts_could_take(self, rec, lease, max(earliest, window[0])) or \
                    images is not None and not _hosts_could_take(
                        self, rec, lease, _search_from(self, rec, images, lease, max(earliest, window[0]), now)) \
                    and _as_if_replanned(rec, slots, images):
                hits += 1
                continue
            stats.replans += 1
            # Most leases tried here stay where they are: release without merging
            # breakpoints, so that holding them again shifts nothing in the grid.
            given = book.release(lease, now, track=False, tidy=False)
            found = self.search.find(want_of(lease), max(earliest, window[0]), min(latest, window[1]))
            if found is not None and begins(found) < old_start - EPS:
                for s, e, _ in given:
                    slots.tidy(s, e)
                stats.moves += 1
                taken = {h for p in found if p.holds for h in p.hosts}  # before the move is applied (and stepped)
                stats.filter_hits += hits
                hits = 0
                yield Move(lease, found)
                freed.add_c(given, taken)
            else:
                book.hold(lease, old)
        stats.filter_hits += hits
        book.spans = []
