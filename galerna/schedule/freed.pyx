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
for every reservation in the queue, and adds the spans a moved lease gave back
after every move: the spans, and per cached VM size their stretches, live in
malloc'd C arrays sorted by host (a move rewrites them in one copy, measuring
only the hosts whose capacity changed), not in lists of tuples and numpy
arrays made anew per move. The grid is read through the slot table's ``grid``
and ``times_array()``, its per-host longest runs through the timelines
(timeline.pxd); every comparison is written as the numpy/Python version it
replaced (``free + EPS >= need``), so schedules stay byte-identical.
"""
from libc.math cimport INFINITY
from libc.stdlib cimport free, malloc, qsort
from libc.string cimport memcpy

from galerna.schedule.bisection cimport left, right
from galerna.schedule.timeline cimport Timeline

import numpy as np

cdef double EPS = 1e-9


cdef struct _Span:
    Py_ssize_t h
    double a, b


cdef int _cmp_spans(const void *x, const void *y) noexcept nogil:
    """Spans in the order ``sorted`` gives their (host, begin, end) tuples."""
    cdef const _Span *p = <const _Span *>x
    cdef const _Span *q = <const _Span *>y
    if p.h != q.h:
        return -1 if p.h < q.h else 1
    if p.a != q.a:
        return -1 if p.a < q.a else 1
    if p.b != q.b:
        return -1 if p.b < q.b else 1
    return 0


def merge_spans(spans):
    """Per host, the union of the spans as disjoint intervals."""
    cdef list out = []
    cdef Py_ssize_t m
    for h, a, b in sorted(spans):
        m = len(out) - 1
        if m >= 0 and out[m][0] == h and a <= out[m][2] + EPS:
            if b > out[m][2]:
                out[m] = (h, out[m][1], b)
        else:
            out.append((h, a, b))
    return out


cdef inline bint _fits(const double[:, :, ::1] grid, Py_ssize_t k, Py_ssize_t h, const double *need,
                       Py_ssize_t nr) noexcept nogil:
    """One VM of size ``need`` fits in row ``k`` of host ``h`` (resources it does not use are ignored)."""
    cdef Py_ssize_t r
    for r in range(nr):
        if need[r] > 0 and not (grid[k, h, r] + EPS >= need[r]):
            return False
    return True


cdef class _Stretches:
    """Per span, the longest stretch for one VM of size ``small`` (see FreedSpans.longest)."""
    # attributes declared in freed.pxd

    def __dealloc__(self):
        free(self.best)


cdef class FreedSpans:
    # attributes and C-level methods are declared in freed.pxd

    def __cinit__(self):
        self.a = self.b = NULL
        self.first = self.count = NULL
        self.m = self.cap = self.nh = 0

    def __init__(self, slots, spans, now):
        cdef Py_ssize_t n = len(spans), k = 0, h, nh = slots.nhosts
        cdef double dnow = now, s, e
        self.slots = slots
        self.now = now
        self._cache = {}
        self.nh = nh
        self.first = <Py_ssize_t *>malloc((nh + 1) * sizeof(Py_ssize_t))
        self.count = <Py_ssize_t *>malloc((nh + 1) * sizeof(Py_ssize_t))
        if self.first == NULL or self.count == NULL:
            raise MemoryError()
        for h in range(nh):
            self.first[h] = self.count[h] = 0
        cdef _Span *new = <_Span *>malloc((n + 1) * sizeof(_Span))
        if new == NULL:
            raise MemoryError()
        try:
            for x, s, e in spans:
                if not e > dnow + EPS:
                    continue
                h = x
                if not 0 <= h < nh:
                    raise IndexError(f"freed span on host {h}, not one of the {nh} hosts")
                new[k].h = h
                new[k].a = s if s > dnow else dnow  # max(a, now)
                new[k].b = e
                k += 1
            _sort(new, k)
            self.cap = 2 * k + 16
            self.a = <double *>malloc(self.cap * sizeof(double))
            self.b = <double *>malloc(self.cap * sizeof(double))
            if self.a == NULL or self.b == NULL:
                raise MemoryError()
            self.m = _sweep(new, k, self.a, self.b, self.first, self.count)
        finally:
            free(new)

    def __dealloc__(self):
        free(self.a)
        free(self.b)
        free(self.first)
        free(self.count)

    def __bool__(self):
        return self.m > 0

    @property
    def spans(self):
        """The spans as (host, begin, end), sorted by host then begin (a new list)."""
        cdef Py_ssize_t h, k
        cdef list out = []
        for h in range(self.nh):
            for k in range(self.first[h], self.first[h] + self.count[h]):
                out.append((h, self.a[k], self.b[k]))
        return out

    def add(self, spans, taken=()):
        """More freed spans (host, begin, end): a reservation moved away from them, to
        hosts ``taken``. Stretches are measured anew on the hosts whose capacity changed;
        on the others they are as they were (their spans, too, are as they were)."""
        self.add_c([(s, e, (h,)) for h, s, e in spans], set(taken))

    def add_stretches(self, given, taken=()):
        """:meth:`add` for (begin, end, hosts) stretches, as compression hands them on."""
        self.add_c(list(given), set(taken))

    cdef int add_c(self, list given, set taken) except -1:
        """:meth:`add` for what ``book.release`` returned, (begin, end, hosts) stretches:
        each host of a stretch gave back [begin, end)."""
        cdef double now = self.now, s, e, top
        cdef Py_ssize_t nh = self.nh, n = 0, k, j, h, c, i, m, cap
        cdef double *nbest
        cdef _Stretches st
        cdef const double[:, :, ::1] grid
        cdef const double[::1] t
        for _, _, hosts in given:
            n += len(hosts)
        # The new spans, then the old ones of every host that has new ones: sorted and
        # swept together, those hosts' spans are merge_spans(old + new) as before.
        cdef _Span *tmp = <_Span *>malloc((n + self.m + 1) * sizeof(_Span))
        cdef unsigned char *touched = <unsigned char *>malloc(nh + 1)
        cdef unsigned char *renew = <unsigned char *>malloc(nh + 1)
        cdef double *na = NULL
        cdef double *nb = NULL
        cdef Py_ssize_t *nf = NULL
        cdef Py_ssize_t *nc = NULL
        try:
            if tmp == NULL or touched == NULL or renew == NULL:
                raise MemoryError()
            for h in range(nh):
                touched[h] = renew[h] = 0
            n = 0
            for s, e, hosts in given:
                if not e > now + EPS:
                    continue
                if s < now:
                    s = now
                for x in hosts:
                    h = x
                    if not 0 <= h < nh:
                        raise IndexError(f"freed span on host {h}, not one of the {nh} hosts")
                    tmp[n].h = h
                    tmp[n].a = s
                    tmp[n].b = e
                    n += 1
                    renew[h] = touched[h] = 1
            for x in taken:
                h = x
                if 0 <= h < nh:
                    touched[h] = 1
            if n:
                for h in range(nh):
                    if renew[h]:
                        for k in range(self.first[h], self.first[h] + self.count[h]):
                            tmp[n].h = h
                            tmp[n].a = self.a[k]
                            tmp[n].b = self.b[k]
                            n += 1
                _sort(tmp, n)
                # The new layout, in new arrays: hosts without new spans copied, with
                # their stretches for every cached size.
                cap = self.cap if n + self.m <= self.cap else 2 * (n + self.m) + 16
                na = <double *>malloc(cap * sizeof(double))
                nb = <double *>malloc(cap * sizeof(double))
                nf = <Py_ssize_t *>malloc((nh + 1) * sizeof(Py_ssize_t))
                nc = <Py_ssize_t *>malloc((nh + 1) * sizeof(Py_ssize_t))
                if na == NULL or nb == NULL or nf == NULL or nc == NULL:
                    raise MemoryError()
                j = 0  # next of tmp
                m = 0
                for h in range(nh):
                    nf[h] = m
                    if renew[h]:
                        k = j
                        while j < n and tmp[j].h == h:
                            j += 1
                        nc[h] = _sweep(tmp + k, j - k, na + m, nb + m, NULL, NULL)
                    else:
                        c = nc[h] = self.count[h]
                        memcpy(na + m, self.a + self.first[h], c * sizeof(double))
                        memcpy(nb + m, self.b + self.first[h], c * sizeof(double))
                    m += nc[h]
                for st in self._cache.values():
                    nbest = <double *>malloc(cap * sizeof(double))
                    if nbest == NULL:
                        raise MemoryError()
                    for h in range(nh):
                        if not touched[h]:
                            memcpy(nbest + nf[h], st.best + self.first[h], nc[h] * sizeof(double))
                    free(st.best)
                    st.best = nbest
                na, self.a = self.a, na
                nb, self.b = self.b, nb
                nf, self.first = self.first, nf
                nc, self.count = self.count, nc
                self.m = m
                self.cap = cap
            if self._cache:
                grid = self.slots.grid
                t = self.slots.times_array()
            for st in self._cache.values():
                for h in range(nh):
                    if touched[h] and self.count[h]:
                        _stretches_of(st, h, grid, t, self)
                top = -INFINITY  # best.max(), no NaN among them
                for i in range(self.m):
                    if st.best[i] > top:
                        top = st.best[i]
                st.top = top
        finally:
            free(tmp)
            free(touched)
            free(renew)
            free(na)
            free(nb)
            free(nf)
            free(nc)
        return 0

    def any_before(self, hosts, double t):
        """Whether some span on one of ``hosts`` begins before ``t`` (a host's first span
        begins first)."""
        cdef Py_ssize_t h, nh = self.nh
        for x in hosts:
            h = x
            if 0 <= h < nh and self.count[h] and self.a[self.first[h]] < t - EPS:
                return True
        return False

    def longest(self, small):
        """Per span, the length (from now) of the longest stretch in which one VM of
        size ``small`` fits on the span's host without a break and that overlaps the
        span; and the longest of those."""
        cdef _Stretches st = self._measured(small)
        cdef Py_ssize_t i
        best = np.empty(self.m)
        cdef double[::1] bv = best
        for i in range(self.m):
            bv[i] = st.best[i]
        return best, st.top

    cdef _Stretches _measured(self, small):
        """The spans' stretches for ``small``, measured on first asking."""
        if small is self._last_small:
            return self._last
        cdef _Stretches st = self._cache.get(small)
        cdef Py_ssize_t h, r, i
        cdef const double[:, :, ::1] grid
        cdef const double[::1] t
        cdef double top
        if st is None:
            st = _Stretches.__new__(_Stretches)
            st.small = small
            st.nr = len(small)
            if st.nr > 16:
                raise ValueError(f"at most 16 resource types, not {st.nr}")
            for r in range(st.nr):
                st.need[r] = small[r]
            st.best = <double *>malloc((self.cap + 1) * sizeof(double))
            if st.best == NULL:
                raise MemoryError()
            grid = self.slots.grid
            t = self.slots.times_array()
            for h in range(self.nh):
                if self.count[h]:
                    _stretches_of(st, h, grid, t, self)
            top = -INFINITY
            for i in range(self.m):
                if st.best[i] > top:
                    top = st.best[i]
            st.top = top
            self._cache[small] = st
        self._last_small = small
        self._last = st
        return st

    def window(self, small, double length, double before, own, mine):
        """The range of starts at which freed capacity could serve a lease, or None.

        A start can only have become feasible if its window touches a freed span
        lying in a stretch of that host long enough for one of the lease's VMs.
        On the lease's own hosts its own slot counts as free, so those spans are
        measured one by one.
        """
        cdef double lo, hi, m0 = INFINITY, m1 = -INFINITY
        cdef Py_ssize_t n = len(own), k = 0
        cdef Py_ssize_t *hosts = <Py_ssize_t *>malloc((n + 1) * sizeof(Py_ssize_t))
        if hosts == NULL:
            raise MemoryError()
        try:
            for x in own:
                hosts[k] = x
                k += 1
            if mine is not None:
                m0, m1 = mine
            if not self.window_c(small, length, before, hosts, n, m0, m1, &lo, &hi):
                return None
        finally:
            free(hosts)
        return lo, hi

    cdef int window_c(self, small, double length, double before, const Py_ssize_t *own, Py_ssize_t nown,
                      double m0, double m1, double *lo_out, double *hi_out) except -1:
        """:meth:`window` as a C call: 1 and the range in ``lo_out``/``hi_out``, or 0 for
        None. ``own`` are the lease's ``nown`` own hosts (repeats allowed), [m0, m1) its
        own slot (inf, -inf for none)."""
        cdef double now = self.now, lo_start = INFINITY, hi_start = -INFINITY, a, b, lo, x
        cdef double hi = 0.0
        cdef Py_ssize_t h, k, nh = self.nh, lo_i, hi_i, j, kend
        cdef const double *bv
        cdef list tls = None
        cdef Timeline tl
        cdef _Stretches st = self._measured(small)  # self.longest(small), without the copy
        for j in range(nown):
            h = own[j]
            if not (0 <= h < nh) or not self.count[h]:
                continue
            for k in range(self.first[h], self.first[h] + self.count[h]):
                a = self.a[k]
                b = self.b[k]
                if a >= before + length:
                    continue
                if tls is None:
                    tls = self.slots.hosts
                tl = <Timeline>tls[h]
                if tl.nres != st.nr:
                    raise ValueError(f"small has {st.nr} resources, the host {tl.nres}")
                # slots.longest_run(h, a, b, small, mine): the span's ends as stored
                lo_i = tl.longest_c(a, b, st.need, m0, m1, &hi_i)
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
        if st.top >= length - EPS:
            # Spans whose stretch is long enough, and over them the earliest begin and the
            # latest end: one walk over the spans (a pass has a few dozen; sorting them
            # after every move cost more than all the walks). Hit spans are in there
            # with their stretch measured without the lease's own slot, a shorter one,
            # so the range stays a superset.
            bv = st.best
            x = length - EPS
            lo = INFINITY  # the earliest begin, then the latest end, of those spans
            hi = -INFINITY
            kend = self.m
            for k in range(kend):
                if bv[k] >= x:
                    if self.a[k] < lo:
                        lo = self.a[k]
                    if self.b[k] > hi:
                        hi = self.b[k]
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


cdef void _sort(_Span *sp, Py_ssize_t n) noexcept:
    """Sort spans as :func:`_cmp_spans` orders them: by insertion when they are few (a
    move's, with its hosts' old spans: a few dozen), else qsort."""
    cdef Py_ssize_t i, j
    cdef _Span x
    if n > 64:
        qsort(sp, n, sizeof(_Span), _cmp_spans)
        return
    for i in range(1, n):
        x = sp[i]
        j = i
        while j > 0 and _cmp_spans(&sp[j - 1], &x) > 0:
            sp[j] = sp[j - 1]
            j -= 1
        sp[j] = x


cdef Py_ssize_t _sweep(const _Span *sp, Py_ssize_t n, double *a, double *b, Py_ssize_t *first,
                       Py_ssize_t *count) noexcept:
    """merge_spans on ``n`` sorted spans: the disjoint intervals into ``a``/``b``, and per
    host (when ``first`` is given) where its run of them begins and how many; their count."""
    cdef Py_ssize_t k, m = 0, h
    for k in range(n):
        h = sp[k].h
        if m > 0 and sp[k - 1].h == h and sp[k].a <= b[m - 1] + EPS:
            if sp[k].b > b[m - 1]:
                b[m - 1] = sp[k].b
        else:
            a[m] = sp[k].a
            b[m] = sp[k].b
            if first != NULL:
                if m == 0 or sp[k - 1].h != h:
                    first[h] = m
                    count[h] = 0
                count[h] += 1
            m += 1
    return m


cdef int _stretches_of(_Stretches st, Py_ssize_t h, const double[:, :, ::1] grid, const double[::1] t,
                       FreedSpans fs) except -1:
    """For every span of host ``h``, the longest stretch overlapping it (see
    :meth:`FreedSpans.longest`), written at its index in ``st.best``: the run of rows that
    fit around each row the span covers, from max(run start, now) to the run's end.
    (``t``: the table's breakpoints, n + 1 of them, the last one inf.)"""
    cdef Py_ssize_t n = grid.shape[0], nr = st.nr, k, ka, kb, kk, s, e, rs = -1, re = -1
    cdef double now = fs.now, v, top, start
    if grid.shape[2] != nr:
        raise ValueError(f"small has {nr} resources, the grid {grid.shape[2]}")
    for k in range(fs.first[h], fs.first[h] + fs.count[h]):  # rs, re: the last run walked, rows [rs, re)
        ka = right(&t[0], 0, n, fs.a[k]) - 1
        if ka < 0:
            ka = 0
        kb = left(&t[0], 0, n, fs.b[k])
        if kb < ka + 1:
            kb = ka + 1
        top = -INFINITY
        kk = ka
        while kk < kb:
            if rs <= kk < re:
                s, e = rs, re
            elif _fits(grid, kk, h, st.need, nr):
                s = kk
                while s > 0 and _fits(grid, s - 1, h, st.need, nr):
                    s -= 1
                e = kk + 1
                while e < n and _fits(grid, e, h, st.need, nr):
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
        st.best[k] = top
    return 0
