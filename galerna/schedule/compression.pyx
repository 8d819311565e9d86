# cython: language_level=3
"""Compression: move future reservations earlier into capacity freed before their time.

One pass in queue order. A lease is re-planned only when capacity freed since
the last pass could serve it (:meth:`Compressor._start_range`, the filters);
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
the site-wide fit loop) was a large share of compression. It is the Python code
it was, compiled, with C doubles only where values are compared and never
handed on (``_site_could_fit``), so plans are byte-identical.
"""
cimport cython

from libc.math cimport INFINITY
from libc.stdlib cimport calloc, free

from galerna.schedule.bisection cimport left, list_left, list_right, right
from galerna.schedule.freed cimport FreedSpans

import numpy as np

from galerna.config.schema import MigrationMode
from galerna.model.lease import LeaseType
from galerna.model.state import LeaseState as S
from galerna.schedule.decisions import Move
from galerna.schedule.mapper import total_demand
from galerna.schedule.phases import begins
from galerna.schedule.search import want_of
from galerna.schedule.slottable import demand_per_host
from galerna.schedule.timeline import EPS

cdef double _EPS = 1e-9


class Compressor:
    def __init__(self, ctx, search):
        self.ctx = ctx
        self.search = search
        self._copies_start = {}  # see _copies_could_serve
        self._shapes = {}  # lease id -> (its VM vectors, smallest VM, total demand): see _shape

    def forget(self, lease_id):
        """The lease reached a final state: drop its memos."""
        self._copies_start.pop(lease_id, None)
        self._shapes.pop(lease_id, None)

    def _shape(self, lease):
        """The lease's smallest VM and total demand, remembered while its VM vectors are
        the same object (hashing them per candidate, per pass, was a large share)."""
        vecs = lease.vecs
        got = self._shapes.get(lease.id)
        if got is None or got[0] is not vecs:
            got = self._shapes[lease.id] = (vecs, self.ctx.shapes.smallest(vecs), total_demand(vecs))
        return got

    def compress(self, now):
        ctx = self.ctx
        book, slots, stats = ctx.book, ctx.slots, ctx.stats
        stats.compressions += 1
        cdef FreedSpans freed = FreedSpans(slots, book.spans, now)
        book.spans = []
        cdef double dnow = now, length, m0, m1, w0, w1
        cdef bint plain = ctx.images is None  # then most leases take the compiled filter below
        cdef bint no_migration = ctx.cfg.migration is MigrationMode.NO
        nsi = ctx.phases.cfg.non_schedulable_interval
        for lease in list(book.reserved):
            if not freed.spans:
                break
            old = lease.phases
            p0 = old[0]
            if p0.started or p0.start <= dnow + _EPS:
                continue
            held = [p for p in old if p.holds]
            old_start = held[0].start if held else p0.start  # begins(old)
            if lease.type is LeaseType.DEADLINE:
                earliest, latest = ctx.phases.start_window(lease, now)
                latest = min(latest, old_start - EPS)
            else:
                earliest, latest = now + nsi, old_start - EPS  # start_window: (now + interval, inf)
            if earliest > latest:
                continue
            if plain and not (no_migration and lease.state is S.SUSPENDED_SCHEDULED):
                # _start_range without images or a resume in place, on C doubles: the
                # freed window, then whether the site as a whole has room in it.
                length = 0.0
                for p in held:
                    length += p.end - p.start
                if held:
                    m0, m1, own = held[0].start, held[-1].end, held[0].hosts
                else:
                    m0, m1, own = INFINITY, -INFINITY, ()
                _, small, need = self._shape(lease)
                if not freed.window_c(small, length, old_start, own, m0, m1, &w0, &w1) or \
                        not _site_fits(slots, need, length, w0, w1, old_start):
                    window = None
                else:
                    window = (w0, w1)
            else:
                window = self._start_range(lease, held, freed, now, old_start, earliest, latest)
            if window is None or not self._hosts_could_take(lease, held, max(earliest, window[0])):
                stats.filter_hits += 1
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
                yield Move(lease, found)
                freed.add([(h, s, e) for s, e, hosts in given for h in set(hosts)], taken=taken)
            else:
                book.hold(lease, old)
        book.spans = []

    def _start_range(self, lease, held, freed, now, old_start, earliest, latest):
        """The range of starts worth searching for ``lease``, or None when capacity freed
        since the last pass surely cannot give it a start before ``old_start``."""
        ctx = self.ctx
        images = ctx.images
        old = lease.phases
        length = sum(p.end - p.start for p in held)
        mine = (held[0].start, held[-1].end) if held else None
        own = set(held[0].hosts) if held else set()
        small = ctx.shapes.smallest(lease.vecs)
        in_place = lease.state is S.SUSPENDED_SCHEDULED and ctx.cfg.migration is MigrationMode.NO
        may_send = False  # a send of its image could come in time for some start
        planned = None  # where its planned transfer begins
        if not in_place and images is not None and not ctx.cfg_images.reuse:
            # Without image reuse a lease can start earlier elsewhere only once its image
            # is sent there. If the link cannot send it any sooner, a lease about to send
            # it can only move to hosts that already hold a copy of it, and one whose
            # hosts already hold it can only move in place.
            first = old[0]
            copies = images.copies_of(lease.req)
            planned = first.start if first.transfer is not None else None

            def own_copies():
                return first.transfer is None and copies == len(own) and all(
                    images.has(h, images.image_of(lease.req)[0], old_start, lease.id, now) for h in own)

            if lease.state in (S.SUSPENDED_QUEUED, S.SUSPENDED_SCHEDULED):
                if first.transfer is not None and copies == len(first.transfer.copies):
                    if not images.could_send_before(lease.req, first.start, now):
                        return None
                elif own_copies():
                    in_place = not images.could_send_before(lease.req, old_start, now)
            elif not images.could_arrive_by(lease.req, latest, now, planned):
                if own_copies():
                    in_place = True
                elif not self._copies_could_serve(lease, held, small, length, earliest, latest, now):
                    return None
            else:
                may_send = True
        if in_place and held and held[0].start <= old_start + EPS:
            # Only capacity freed on its own hosts before its start can help (from
            # there on its own slot covers it), and whether they are free earlier is
            # then one exact question.
            if not freed.any_before(own, old_start):
                return None
            need = demand_per_host(zip(held[0].hosts, lease.vecs))
            start = ctx.slots.earliest_in_place(need, length, max(earliest, now), old_start, key=lease.id)
            return None if start is None or start > latest else (start, latest)
        window = freed.window(small, length, old_start, own, mine)
        if window is None or not self._site_could_fit(lease, length, window, old_start):
            return None
        if may_send:
            # A start that needs its image sent cannot come before it can arrive; if
            # none is left in the window, only hosts that hold copies of it can serve.
            arrive = images.earliest_arrival(lease.req, now, planned)
            if (arrive > window[1] + EPS or not self._site_could_fit(
                    lease, length, (max(window[0], arrive), window[1]), old_start)) and \
                    not self._copies_could_serve(lease, held, small, length, earliest, window[1], now):
                return None
        return window

    def _copies_could_serve(self, lease, held, small, length, earliest, latest, now):
        """Whether the hosts holding copies of the lease's image (other than those its
        planned transfer brings) could take it by ``latest``, when no send can.

        Told only when each of those hosts fits at most one of its VMs: then as many
        of them as it has VMs must be free at once. Its own slot counts as taken, so
        windows are cut where that slot begins. The earliest such start is
        remembered until the lease's copies or one of those hosts change.
        """
        if not held:
            return True
        ctx = self.ctx
        images, slots = ctx.images, ctx.slots
        first = lease.phases[0]
        stamp = (images.copies_version(lease.req), first.transfer, held[0].start, length)
        start_from = max(earliest, now)
        memo = self._copies_start.get(lease.id)
        if memo is not None and memo[0] == stamp:
            order = memo[1]
            if order is None:
                return memo[2]
            tls = slots.hosts
            versions = tuple([tls[h].version for h in order])
            if memo[2] == versions and start_from >= memo[3] and (memo[4] is None or memo[4] >= start_from):
                return memo[4] is not None and memo[4] <= latest + EPS
        else:
            hosts = images.copy_hosts(lease.req, first.transfer)
            n = len(lease.vecs)
            order = sorted(hosts) if len(hosts) >= n and hosts <= ctx.shapes.one_vm_hosts(small) else None
            if order is None:
                told = len(hosts) >= n  # fewer hosts than VMs cannot; else not told
                self._copies_start[lease.id] = (stamp, None, told)
                return told
            tls = slots.hosts
            versions = tuple([tls[h].version for h in order])
        start = slots.earliest_on_enough(order, small, len(lease.vecs), length, start_from, held[0].start)
        self._copies_start[lease.id] = (stamp, order, versions, start_from, start)
        return start is not None and start <= latest + EPS

    def _hosts_could_take(self, lease, held, earliest):
        """Whether enough hosts could each take one of a fresh lease's VMs for its whole
        run, from some start in [earliest, its held start): told only where each host
        fits at most one of its VMs (then it needs that many distinct hosts), without
        images (a transfer can only delay a start). Its own slot counts as free on its
        own hosts, the rest of the table as it is; true when not told."""
        ctx = self.ctx
        if ctx.images is not None or not held or lease.state in (S.SUSPENDED_QUEUED, S.SUSPENDED_SCHEDULED):
            return True
        slots = ctx.slots
        small = self._shape(lease)[1]
        if len(ctx.shapes.one_vm_hosts(small)) != slots.nhosts:
            return True
        return hosts_could_start(slots.grid, slots.times_array(), held[0].hosts, small, len(lease.vecs),
                                 ctx.phases.fresh_length(lease), earliest, held[0].start)

    def _site_could_fit(self, lease, double length, window, double held_from):
        """Whether the site as a whole has room for ``lease`` to start in ``window``.

        Checked without releasing the lease's own slot: from ``held_from`` on
        that slot covers the lease's whole demand, so only the part of each
        candidate window before it needs free capacity.
        """
        return _site_fits(self.ctx.slots, self._shape(lease)[2], length, window[0], window[1], held_from)


@cython.boundscheck(False)
@cython.wraparound(False)
cdef bint _site_fits(slots, need, double length, double t, double last, double held_from) except -1:
    """Compressor._site_could_fit on the table's totals: from ``t`` on, each try ends at
    min(t + length, held_from); a blocked try goes on after the run of segments that
    blocks it (gridsearch.total_fits, the same walk on the same doubles)."""
    cdef const double[:, ::1] tot = slots._tot
    cdef list times = slots.times
    cdef Py_ssize_t n = len(times), nr = tot.shape[1], r, k, i, j, bad
    cdef double end, t2
    cdef double nd[16]
    if tot.shape[0] < n:
        raise ValueError(f"{tot.shape[0]} rows of totals for {n} segments")
    if len(need) != nr or nr > 16:
        raise ValueError(f"demand has {len(need)} resources, the totals {nr} (at most 16)")
    for r in range(nr):
        nd[r] = need[r]
    while t <= last + _EPS:
        end = t + length
        if held_from < end:
            end = held_from
        # total_fits(t, end, need)
        i = list_right(times, 0, t) - 1
        if i < 0:
            i = 0
        j = list_left(times, i + 1, end)
        if j < i + 1:
            j = i + 1
        bad = -1
        for k in range(i, j):
            for r in range(nr):
                if tot[k, r] + _EPS < nd[r]:
                    bad = k
                    break
            if bad >= 0:
                break
        if bad < 0:
            return True
        t2 = INFINITY
        for k in range(bad + 1, n):
            for r in range(nr):
                if tot[k, r] + _EPS < nd[r]:
                    break
            else:
                t2 = <double>times[k]
                break
        t = t2
    return False


cdef Py_ssize_t _select(Py_ssize_t *a, Py_ssize_t n, Py_ssize_t m) noexcept nogil:
    """The m-th smallest (from 0) of a[0:n], reordering a (quickselect, Hoare partition)."""
    cdef Py_ssize_t lo = 0, hi = n - 1, i, j, pivot, x
    while lo < hi:
        pivot = a[(lo + hi) // 2]
        i, j = lo, hi
        while i <= j:
            while a[i] < pivot:
                i += 1
            while a[j] > pivot:
                j -= 1
            if i <= j:
                x = a[i]; a[i] = a[j]; a[j] = x
                i += 1
                j -= 1
        if m <= j:
            hi = j
        elif m >= i:
            lo = i
        else:
            return a[m]
    return a[m]


@cython.boundscheck(False)
@cython.wraparound(False)
def hosts_could_start(const double[:, :, ::1] grid, const double[::1] t, own, small, Py_ssize_t count,
                      double duration, double earliest, double held_from):
    """Whether some start s in [earliest, held_from) has at least ``count`` hosts on each
    of which one ``small`` fits (free + EPS >= need) in every grid row of [s, s + duration)
    -- on the hosts ``own``, of [s, min(s + duration, held_from)), the asker's own slot
    covering the rest. ``t`` is the table's breakpoints with inf appended. Only segment
    starts (and ``earliest``) are tried: the earliest start of such a set of hosts is one.
    Per host the rows known to fit from the current start on are remembered, so each
    row of each host is read about once."""
    cdef Py_ssize_t n = grid.shape[0], nh = grid.shape[1], nr = grid.shape[2], h, k, r, i0, i1, j, ja, jo, c
    if count > nh or not (earliest < held_from):
        return False
    if len(small) != nr:
        raise ValueError(f"small has {len(small)} resources, the grid {nr}")
    if t.shape[0] < n + 1:
        raise ValueError(f"{t.shape[0]} breakpoints for {n} grid rows (and inf)")
    # One C block: the VM's need, then per host whether it is the asker's, the rows known
    # to fit from the current start on (okto) and whether okto[h] itself does not (bad).
    cdef char *block = <char *>calloc(nr * sizeof(double) + nh * (2 * sizeof(Py_ssize_t) + 2) + 1, 1)
    if block == NULL:
        raise MemoryError()
    cdef double *nd = <double *>block
    cdef Py_ssize_t *okto = <Py_ssize_t *>(block + nr * sizeof(double))
    cdef Py_ssize_t *failed = okto + nh  # per start tried, the bad rows of the hosts that fail it
    cdef Py_ssize_t nf
    cdef unsigned char *isown = <unsigned char *>(block + nr * sizeof(double) + 2 * nh * sizeof(Py_ssize_t))
    cdef unsigned char *bad = isown + nh
    cdef double s, u
    cdef bint fits, found = False
    try:
        for r in range(nr):
            nd[r] = small[r]
        for x in own:
            h = x
            if h < 0 or h >= nh:
                raise IndexError(f"host {h} is not in the grid's {nh} hosts")
            isown[h] = 1
    except BaseException:
        free(block)
        raise
    i0 = right(&t[0], 0, n, earliest) - 1
    if i0 < 0:
        i0 = 0
    i1 = left(&t[0], 0, n, held_from)
    with nogil:
        for h in range(nh):
            okto[h] = i0  # rows [k, okto[h]) fit; okto[h] itself does not when bad[h]
        k = i0
        while k < i1:
            s = earliest if k == i0 else t[k]
            u = s + duration
            ja = left(&t[0], 0, n, u)
            if ja < k + 1:
                ja = k + 1
            jo = left(&t[0], 0, n, u if u < held_from else held_from)
            if jo < k + 1:
                jo = k + 1
            c = 0
            nf = 0
            for h in range(nh):
                j = jo if isown[h] else ja
                if okto[h] < k:
                    okto[h] = k
                    bad[h] = 0
                while okto[h] < j and not bad[h]:
                    fits = True
                    for r in range(nr):
                        if nd[r] > 0 and not (grid[okto[h], h, r] + _EPS >= nd[r]):
                            fits = False
                            break
                    if fits:
                        okto[h] += 1
                    else:
                        bad[h] = 1
                if okto[h] >= j:
                    c += 1
                    if c >= count:
                        break
                else:
                    failed[nf] = okto[h]  # its row okto[h] < j does not fit
                    nf += 1
            if c >= count:
                found = True
                break
            # A host failing here fails at every later start up to its bad row (that row
            # stays inside the window, which only grows): at most c + (those whose bad row
            # is behind) hosts can take a later start, so skip to where that reaches count.
            if c + nf < count:
                break
            k = _select(failed, nf, count - c - 1) + 1  # every bad row is >= k
        free(block)
    return found
