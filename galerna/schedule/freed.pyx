# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Host-intervals given back since the last compression, and whom they could serve.

Compression (moving reservations earlier after a premature end) must not
re-plan every reservation: only a lease for which some freed host-interval
lies inside a stretch long enough for one of its VMs can have gained an
earlier start. For every freed span this answers "how long is the longest
free stretch for one VM of this size that overlaps it?" for all spans at once
from the slot table's grid, cached per VM size until more spans are freed
(capacity taken meanwhile only shortens stretches, so the filter stays a
superset); the per-lease filter walks the spans whose stretch is long enough.

Compiled (Cython) because compression asks this after every premature end,
for every reservation in the queue: the walks over the grid's columns and
the per-lease window were interpreter and numpy-call overhead. The grid is
read through the slot table's ``grid`` and ``times_array()``, its per-host
longest runs through ``longest_run``; every comparison is written as the
numpy/Python version it replaced (``free + EPS >= need``), so schedules stay
byte-identical.
"""
from libc.math cimport INFINITY

from galerna.schedule.bisection cimport left, right
from galerna.schedule.timeline cimport Timeline

import numpy as np

cdef double EPS = 1e-9


def merge_spans(spans):
    """Per host, the union of the spans as disjoint intervals."""
    return _merge(list(spans))


cdef list _merge(list spans):
    """merge_spans as a C call."""
    cdef list out = []
    cdef Py_ssize_t m
    if len(spans) == 1:
        h, a, b = spans[0]
        return [(h, a, b)]
    for h, a, b in sorted(spans):
        m = len(out) - 1
        if m >= 0 and out[m][0] == h and a <= out[m][2] + EPS:
            if b > out[m][2]:
                out[m] = (h, out[m][1], b)
        else:
            out.append((h, a, b))
    return out


cdef inline bint _fits(const double[:, :, ::1] grid, Py_ssize_t k, Py_ssize_t h, const double[::1] need,
                       Py_ssize_t nr) noexcept nogil:
    """One VM of size ``need`` fits in row ``k`` of host ``h`` (resources it does not use are ignored)."""
    cdef Py_ssize_t r
    for r in range(nr):
        if need[r] > 0 and not (grid[k, h, r] + EPS >= need[r]):
            return False
    return True


cdef class FreedSpans:
    # attributes and C-level methods are declared in freed.pxd

    def __init__(self, slots, spans, now):
        self.slots = slots
        self.now = now
        self.spans = merge_spans([(h, max(a, now), b) for h, a, b in spans if b > now + EPS])
        self._cache = {}
        self._index()

    def __bool__(self):
        return bool(self.spans)

    cdef int _index(self) except -1:
        """Spans are sorted by host (see merge_spans): each host's are one run. Into buffers
        kept from the last index (rebuilt after every move, allocating them was a large
        share of it); the per-host pair is swapped with the spare, so that the one read
        before (``add``'s old positions) stays as it was."""
        cdef Py_ssize_t m = len(self.spans), k, h, nh = self.slots.nhosts
        cdef tuple sp
        if self._a is None or self._a.shape[0] < m:
            self._a = np.empty(2 * m + 16)
            self._b = np.empty(2 * m + 16)
        if self._spare_first is None or self._spare_first.shape[0] != nh:
            self._spare_first = np.zeros(nh, dtype=np.intp)
            self._spare_count = np.zeros(nh, dtype=np.intp)
        cdef Py_ssize_t[::1] fv = self._spare_first, cv = self._spare_count
        cdef double[::1] av = self._a, bv = self._b
        for h in range(nh):
            cv[h] = 0
        for k in range(m):
            sp = <tuple>self.spans[k]
            h = sp[0]
            if not 0 <= h < nh:
                raise IndexError(f"freed span on host {h}, not one of the {nh} hosts")
            av[k] = sp[1]
            bv[k] = sp[2]
            if cv[h] == 0:
                fv[h] = k
            cv[h] += 1
        self._spare_first, self._spare_count = self._first, self._count
        self._first, self._count = fv, cv
        return 0

    def add(self, spans, taken=()):
        """More freed spans: a reservation moved away from them, to hosts ``taken``.
        Stretches are measured anew on the hosts whose capacity changed; on the
        others they are as they were (their spans, too, are as they were)."""
        cdef double now = self.now, top
        cdef Py_ssize_t nh = self.slots.nhosts, h, i, c
        new = [(h, max(a, now), b) for h, a, b in spans if b > now + EPS]
        touched = np.zeros(nh, dtype=np.uint8)
        cdef unsigned char[::1] tv = touched
        for s in new:
            tv[<Py_ssize_t>s[0]] = 1
        for h in taken:
            tv[h] = 1
        old_first, old_count = self._first, self._count
        cdef Py_ssize_t[::1] of = old_first, oc = old_count
        self.spans = self._merged_with(new)
        self._index()
        cdef Py_ssize_t[::1] nf = self._first, ncnt = self._count
        cdef double[::1] oldv, bestv
        fresh = [h for h in range(nh) if tv[h] and ncnt[h]]
        for small, (old, _) in list(self._cache.items()):
            best = np.empty(len(self.spans))
            bestv = best
            oldv = old
            for h in range(nh):
                if not tv[h]:
                    c = ncnt[h]
                    for i in range(c):
                        bestv[nf[h] + i] = oldv[of[h] + i]
            self._stretches_into(small, fresh, bestv)
            top = -INFINITY  # best.max(), no NaN among them
            for i in range(bestv.shape[0]):
                if bestv[i] > top:
                    top = bestv[i]
            self._cache[small] = (best, top)

    cdef list _merged_with(self, list new):
        """merge_spans(self.spans + new), host by host: the spans of hosts without new
        ones are taken as they are (they are merged already, and merging never crosses
        hosts), the others merged with their new ones."""
        if not new:
            return self.spans
        cdef list out = [], old = self.spans, mine
        cdef Py_ssize_t at = 0, h, f, c, k = 0, m = len(new)
        new = sorted(new)
        while k < m:
            h = new[k][0]
            mine = []
            while k < m and new[k][0] == h:
                mine.append(new[k])
                k += 1
            c = self._count[h]
            f = self._first[h] if c else at
            if f < at:  # cannot happen: spans are sorted by host
                raise AssertionError("freed spans out of host order")
            if c == 0:
                # where host h's spans would begin: after every span of a lower host
                while f < len(old) and (<tuple>old[f])[0] < h:
                    f += 1
            out.extend(old[at:f])
            out.extend(_merge(old[f:f + c] + mine))
            at = f + c
        out.extend(old[at:])
        return out

    def any_before(self, hosts, double t):
        """Whether some span on one of ``hosts`` begins before ``t`` (a host's first span
        begins first)."""
        cdef Py_ssize_t h, nh = self._count.shape[0]
        for h in hosts:
            if 0 <= h < nh and self._count[h] and self._a[self._first[h]] < t - EPS:
                return True
        return False

    def longest(self, small):
        """Per span, the length (from now) of the longest stretch in which one VM of
        size ``small`` fits on the span's host without a break and that overlaps the
        span; and the longest of those."""
        got = self._cache.get(small)
        if got is None:
            best = np.empty(len(self.spans))
            hosts = [h for h in range(self._count.shape[0]) if self._count[h]]
            self._stretches_into(small, hosts, best)
            got = self._cache[small] = (best, float(best.max()) if len(best) else -INFINITY)
        return got

    cdef void _stretches_into(self, small, list hosts, double[::1] best):
        """For every span on ``hosts``, the longest stretch overlapping it (see
        :meth:`longest`), written at its index in ``best``: the run of rows that fit
        around each row the span covers, from max(run start, now) to the run's end."""
        if not hosts:
            return
        cdef const double[:, :, ::1] grid = self.slots.grid
        cdef const double[::1] t = self.slots.times_array()  # n + 1 entries, the last one inf
        cdef const double[::1] need = np.asarray(small, dtype=float)
        cdef Py_ssize_t n = grid.shape[0], nr = grid.shape[2], h, k, ka, kb, kk, s, e, rs, re
        cdef double now = self.now, v, top, start
        for h in hosts:
            rs, re = -1, -1  # the last run walked on this host, rows [rs, re)
            for k in range(self._first[h], self._first[h] + self._count[h]):
                ka = right(&t[0], 0, n, self._a[k]) - 1
                if ka < 0:
                    ka = 0
                kb = left(&t[0], 0, n, self._b[k])
                if kb < ka + 1:
                    kb = ka + 1
                top = -INFINITY
                kk = ka
                while kk < kb:
                    if rs <= kk < re:
                        s, e = rs, re
                    elif _fits(grid, kk, h, need, nr):
                        s = kk
                        while s > 0 and _fits(grid, s - 1, h, need, nr):
                            s -= 1
                        e = kk + 1
                        while e < n and _fits(grid, e, h, need, nr):
                            e += 1
                        rs, re = s, e
                    else:
                        kk += 1
                        continue
                    start = t[s]
                    if now > start:
                        start = now
                    v = t[e] - start
                    if v > top:
                        top = v
                    kk = e
                best[k] = top

    def window(self, small, double length, double before, own, mine):
        """The range of starts at which freed capacity could serve a lease, or None.

        A start can only have become feasible if its window touches a freed span
        lying in a stretch of that host long enough for one of the lease's VMs.
        On the lease's own hosts its own slot counts as free, so those spans are
        measured one by one.
        """
        cdef double lo, hi, m0 = INFINITY, m1 = -INFINITY
        if mine is not None:
            m0, m1 = mine
        if not self.window_c(small, length, before, tuple(own), m0, m1, &lo, &hi):
            return None
        return lo, hi

    cdef int window_c(self, small, double length, double before, tuple own, double m0, double m1,
                      double *lo_out, double *hi_out) except -1:
        """:meth:`window` as a C call: 1 and the range in ``lo_out``/``hi_out``, or 0 for
        None. ``own`` are the lease's own hosts (repeats allowed), [m0, m1) its own slot
        (inf, -inf for none)."""
        cdef double now = self.now, lo_start = INFINITY, hi_start = -INFINITY, a, b, lo, x, longest
        cdef double hi = 0.0
        cdef Py_ssize_t h, k, nh = self._count.shape[0], r, nr, lo_i, hi_i
        cdef const double[::1] bv
        cdef double need[16]
        cdef list tls = None
        cdef Timeline tl
        got = self._cache.get(small)  # self.longest(small), without a Python call when known
        if got is None:
            got = self.longest(small)
        longest = got[1]
        for h in own:
            if not (0 <= h < nh) or not self._count[h]:
                continue
            for k in range(self._first[h], self._first[h] + self._count[h]):
                a = self._a[k]
                b = self._b[k]
                if a >= before + length:
                    continue
                if tls is None:
                    tls = self.slots.hosts
                    nr = len(small)
                    if nr > 16:
                        raise ValueError(f"at most 16 resource types, not {nr}")
                    for r in range(nr):
                        need[r] = small[r]
                tl = <Timeline>tls[h]
                if tl.nres != nr:
                    raise ValueError(f"small has {nr} resources, the host {tl.nres}")
                # slots.longest_run(h, a, b, small, mine): the span's ends as stored
                lo_i = tl.longest_c(a, b, need, m0, m1, &hi_i)
                if lo_i < 0:
                    lo = a
                    hi = a
                else:
                    lo = tl.s.t[lo_i]
                    hi = tl.s.t[hi_i] if hi_i < tl.s.n else INFINITY
                if now > lo:
                    lo = now
                if hi - lo >= length - EPS and lo < before:
                    x = a - length
                    if lo > x:
                        x = lo
                    if x < lo_start:
                        lo_start = x
                    x = b
                    if hi - length < x:
                        x = hi - length
                    if before < x:
                        x = before
                    if x > hi_start:
                        hi_start = x
        if longest >= length - EPS:
            # Spans whose stretch is long enough, and over them the earliest begin and the
            # latest end: one walk over the spans (a pass has a few dozen; sorting them
            # after every move cost more than all the walks). Hit spans are in there
            # with their stretch measured without the lease's own slot, a shorter one,
            # so the range stays a superset.
            bv = got[0]
            x = length - EPS
            lo = INFINITY  # the earliest begin, then the latest end, of those spans
            hi = -INFINITY
            for k in range(bv.shape[0]):
                if bv[k] >= x:
                    if self._a[k] < lo:
                        lo = self._a[k]
                    if self._b[k] > hi:
                        hi = self._b[k]
            if hi > -INFINITY and lo < before + length:
                x = lo - length
                if now > x:
                    x = now
                if x < lo_start:
                    lo_start = x
                x = hi
                if before < x:
                    x = before
                if x > hi_start:
                    hi_start = x
        if lo_start > hi_start + EPS:
            return 0
        lo_out[0] = lo_start
        hi_out[0] = hi_start
        return 1
