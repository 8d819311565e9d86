# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""A step function of free capacity over time, for one host or for the image link.

Breakpoints live in a sorted C array of doubles and the free amounts, segment by
segment, in a parallel one (``nres`` doubles per breakpoint), so splitting, reserving
and window queries are a bisection plus a short scan of the segments inside the
window — cost grows with the number of reservations overlapping the window, not
with the length of the queue. Segments ending before ``now`` are dropped by
:meth:`prune` (the arrays' start moves on), so a long simulation does not drag its
past along.

Compiled (Cython) because these walks are called millions of times per run. C
arrays rather than Python lists because the other compiled walks (hostfit's runs,
freed's stretches, the image link's holes) read them in place, segment by segment:
through lists every read was an object load and a float unboxing. Every comparison
and sum is the same double arithmetic the lists' floats got, so schedules are
byte-identical; the times come back as floats (``times``, ``next_change``,
``longest_run``), which compare, sum and print as the objects once passed in did.
"""
from libc.math cimport INFINITY, fabs
from libc.string cimport memcpy

from galerna.schedule.bisection cimport left, right
from galerna.schedule.steps cimport steps_alloc, steps_delete, steps_drop_front, steps_free, steps_insert

import numpy as np

EPS = 1e-9
cdef double _EPS = 1e-9


cdef class Timeline:
    # attributes and C-level methods are declared in timeline.pxd

    def __cinit__(self):
        self.s.t = self.s.f = self.s.tbuf = self.s.fbuf = NULL
        self.s.n = self.s.cap = 0

    def __init__(self, capacity, origin=0.0):
        cdef Py_ssize_t r
        self.capacity = tuple(capacity)
        self.nres = len(self.capacity)
        steps_alloc(&self.s, self.nres, 8)
        self.s.n = 1
        self.s.t[0] = origin
        for r in range(self.nres):
            self.s.f[r] = self.capacity[r]
        self.version = 0

    def __dealloc__(self):
        steps_free(&self.s)

    def __reduce__(self):
        return (_rebuild, (self.capacity, self.times, self.free, self.version))

    @property
    def times(self):
        """The breakpoints, as a new list (a copy: for Python readers and tests)."""
        cdef Py_ssize_t k
        cdef list out = []
        for k in range(self.s.n):
            out.append(self.s.t[k])
        return out

    @property
    def free(self):
        """Per resource, the free amount of every segment, as new lists (a copy)."""
        cdef Py_ssize_t nr = self.nres, k, r
        cdef list out = [], col
        for r in range(nr):
            col = []
            for k in range(self.s.n):
                col.append(self.s.f[k * nr + r])
            out.append(col)
        return out

    # ------------------------------------------------------------------ edit
    cdef Py_ssize_t _split(self, double t) except -1:
        """Index of the segment starting at ``t``, inserting a breakpoint if needed."""
        cdef Py_ssize_t i = right(self.s.t, 0, self.s.n, t) - 1, r, nr = self.nres
        if i < 0:
            # Before the origin: extend backwards with full capacity.
            steps_insert(&self.s, 0, t)
            for r in range(nr):
                self.s.f[r] = self.capacity[r]
            return 0
        if self.s.t[i] == t:
            return i
        steps_insert(&self.s, i + 1, t)
        memcpy(self.s.f + (i + 1) * nr, self.s.f + i * nr, nr * sizeof(double))
        return i + 1

    def add(self, start, end, delta, double sign):
        """Subtract (sign=-1) or give back (sign=+1) ``delta`` over [start, end)."""
        cdef double d[16]
        cdef Py_ssize_t r
        if self.nres > 16:
            raise ValueError(f"at most 16 resource types, not {self.nres}")
        for r in range(self.nres):
            d[r] = delta[r]
        self.add_c(start, end, d, sign)

    cdef int add_c(self, double start, double end, const double *delta, double sign) except -1:
        """:meth:`add` with the demand as C doubles (``nres`` of them): gridedit's edit
        calls it per host without a Python call or a tuple."""
        if not (end > start):
            return 0
        self.version += 1
        cdef Py_ssize_t i = self._split(start)
        cdef Py_ssize_t j = self._split(end)
        cdef Py_ssize_t r, k, nr = self.nres
        cdef double d
        cdef double *f = self.s.f
        for r in range(nr):
            d = delta[r] * sign
            if d != 0.0:
                for k in range(i, j):
                    f[k * nr + r] = f[k * nr + r] + d
        if sign > 0:
            self._merge(j)
            self._merge(i)
        return 0

    def coalesce(self, double start, double end):
        """Merge the breakpoints at ``start`` and ``end`` away where they separate equal
        segments. A reserve does not (a host's breakpoints count its leases), but on
        a busy link back-to-back transfers are then one segment to walk past."""
        cdef Py_ssize_t k
        cdef double x
        for x in (end, start):
            k = left(self.s.t, 0, self.s.n, x)
            if k < self.s.n and self.s.t[k] == x:
                self._merge(k)

    def reserve(self, start, end, demand):
        self.add(start, end, demand, -1.0)

    def release(self, start, end, demand):
        self.add(start, end, demand, 1.0)

    cdef void _merge(self, Py_ssize_t i) noexcept:
        """Drop breakpoint ``i`` when it separates two equal segments."""
        cdef Py_ssize_t r, nr = self.nres
        if i <= 0 or i >= self.s.n:
            return
        for r in range(nr):
            if fabs(self.s.f[i * nr + r] - self.s.f[(i - 1) * nr + r]) > _EPS:
                return
        steps_delete(&self.s, i)

    def prune(self, double now):
        """Forget segments that ended before ``now``."""
        self.prune_c(now)

    cdef void prune_c(self, double now) noexcept:
        cdef Py_ssize_t i = right(self.s.t, 0, self.s.n, now) - 1
        if i > 0:
            steps_drop_front(&self.s, i)

    # ----------------------------------------------------------------- query
    cdef Py_ssize_t _fits_at(self, Py_ssize_t k, const double *need) noexcept:
        """Whether ``need`` fits in segment ``k`` (free + EPS >= need, resource by resource)."""
        cdef Py_ssize_t r, nr = self.nres
        cdef const double *row = self.s.f + k * nr
        for r in range(nr):
            if row[r] + _EPS < need[r]:
                return 0
        return 1

    def slots(self, double start, double end, demand, long cap):
        """How many copies of ``demand`` fit over the whole of [start, end), at most ``cap``."""
        cdef Py_ssize_t i = right(self.s.t, 0, self.s.n, start) - 1, n = self.s.n, r, nr = self.nres
        cdef double need, f
        cdef double nd[16]
        cdef long best = cap, k
        if nr > 16:
            raise ValueError(f"at most 16 resource types, not {nr}")
        for r in range(nr):
            nd[r] = demand[r]
        if i < 0:
            i = 0
        while True:
            for r in range(nr):
                need = nd[r]
                if need > 0:
                    f = self.s.f[i * nr + r] + _EPS
                    if f < need:
                        return 0
                    k = <long>(f / need)
                    if k < best:
                        best = k
            i += 1
            if i >= n or self.s.t[i] >= end:
                return best

    def fits(self, start, end, demand):
        return self.slots(start, end, demand, 1) >= 1

    def free_at(self, double t):
        cdef Py_ssize_t i = right(self.s.t, 0, self.s.n, t) - 1, r
        if i < 0:
            i = 0
        return tuple([self.s.f[i * self.nres + r] for r in range(self.nres)])

    def next_change(self, double t):
        """First breakpoint strictly after ``t`` (inf if none)."""
        cdef Py_ssize_t i = right(self.s.t, 0, self.s.n, t)
        return self.s.t[i] if i < self.s.n else INFINITY

    def __len__(self):
        return self.s.n

    # ------------------------------------------------------- whole walks
    def longest_run(self, a, b, demand, mine=None):
        """Of the intervals in which one ``demand`` fits without a break, the longest one
        that overlaps [a, b): its (start, end), or (a, a) if none. ``mine`` is an
        interval the asking lease itself holds here: there one of its VMs fits by
        definition, so it counts as free."""
        cdef double m0 = INFINITY, m1 = -INFINITY
        cdef double need[16]
        cdef Py_ssize_t r, lo, hi
        if self.nres > 16:
            raise ValueError(f"at most 16 resource types, not {self.nres}")
        for r in range(self.nres):
            need[r] = demand[r]
        if mine is not None:
            m0, m1 = mine
        lo = self.longest_c(a, b, need, m0, m1, &hi)
        if lo < 0:
            return (a, a)
        return (self.s.t[lo], self.s.t[hi] if hi < self.s.n else INFINITY)

    cdef Py_ssize_t longest_c(self, double a, double b, const double *need, double m0, double m1,
                              Py_ssize_t *hi_out) except -2:
        """:meth:`longest_run` on C doubles: the index of the longest stretch's first
        segment and, in ``hi_out``, the index of the breakpoint ending it (n for inf);
        -1 if none (the answer is then (a, a))."""
        cdef const double *times = self.s.t
        cdef Py_ssize_t n = self.s.n, i, lo, hi, best_lo = -1, best_hi = -1
        cdef double end, best_len = a - a, blo
        i = right(times, 0, n, a) - 1
        if i < 0:
            i = 0
        while i < n and times[i] < b:
            if not self._ok(i, n, need, m0, m1):
                i += 1
                continue
            lo = i
            while lo > 0 and self._ok(lo - 1, n, need, m0, m1):
                lo -= 1
            hi = i
            while hi + 1 < n and self._ok(hi + 1, n, need, m0, m1):
                hi += 1
            end = times[hi + 1] if hi + 1 < n else INFINITY
            blo = times[lo]
            if end - blo > best_len:
                best_lo, best_hi = lo, hi + 1
                best_len = end - blo
            i = hi + 1
        hi_out[0] = best_hi
        return best_lo

    cdef bint _ok(self, Py_ssize_t k, Py_ssize_t n, const double *need, double m0, double m1) noexcept:
        if m0 <= self.s.t[k] and (k + 1 >= n or self.s.t[k + 1] <= m1):
            return True
        return self._fits_at(k, need)

    def may_fit_in_place(self, need, length, earliest, before):
        """A stretch from ``earliest`` on that fits ``need`` and runs up to ``before``, or
        one at least ``length`` long before it (see SlotTable.earliest_in_place)."""
        cdef Py_ssize_t r
        cdef double nd[16]
        if self.nres > 16:
            raise ValueError(f"at most 16 resource types, not {self.nres}")
        for r in range(self.nres):
            nd[r] = need[r]
        return self.may_fit_c(nd, length, earliest, before)

    cdef bint may_fit_c(self, const double *nd, double dlen, double de, double dbefore) except -1:
        cdef const double *times = self.s.t
        cdef Py_ssize_t n = self.s.n, i
        cdef double run_from = 0.0, end, t
        cdef bint running = False
        i = right(times, 0, n, de) - 1
        if i < 0:
            i = 0
        while i < n and times[i] < dbefore:
            if self._fits_at(i, nd):
                if not running:
                    t = times[i]
                    run_from = de if de > t else t
                    running = True
                end = times[i + 1] if i + 1 < n else INFINITY
                if dbefore < end:
                    end = dbefore
                if end >= dbefore or end - run_from >= dlen - _EPS:
                    return True
            else:
                running = False
            i += 1
        return False

    def first_hole(self, now, length):
        """Start of the first stretch from ``now`` at least ``length`` long in which the
        first resource is wholly free (free >= 1 - EPS): the image link's next send.
        ``now`` itself (the object) when the stretch is under way at ``now``."""
        cdef const double *times = self.s.t
        cdef Py_ssize_t n = self.s.n, i, nr = self.nres
        cdef double dnow = now, dlen = length, end, s = 0.0
        cdef bint running = False, at_now = False  # walking a free stretch; it starts at now
        i = right(times, 0, n, dnow) - 1
        if i < 0:
            i = 0
        while i < n:
            if self.s.f[i * nr] >= 1.0 - _EPS:
                if not running:
                    running = True
                    at_now = dnow > times[i]  # the start is max(times[i], now)
                    s = dnow if at_now else times[i]
                end = times[i + 1] if i + 1 < n else INFINITY
                if end - s >= dlen - _EPS:
                    if at_now:
                        return now
                    return s
            else:
                running = False
            i += 1
        if times[n - 1] > dnow:  # max(now, times[n - 1])
            return times[n - 1]
        return now


def _rebuild(capacity, times, free, version):
    """Unpickle: a timeline with these breakpoints and free amounts (lists, as pickled)."""
    cdef Timeline tl = Timeline(capacity)
    cdef Py_ssize_t n = len(times), nr = tl.nres, k, r
    if n < 1 or len(free) != nr or any([len(col) != n for col in free]):
        raise ValueError(f"{n} breakpoints and free amounts of {[len(col) for col in free]} segments")
    steps_alloc(&tl.s, nr, n + 8)
    for k in range(n):
        tl.s.t[k] = times[k]
        for r in range(nr):
            tl.s.f[k * nr + r] = free[r][k]
    tl.s.n = n
    tl.version = version
    return tl


def lengths(list timelines):
    """Per timeline, how many breakpoints it has (the slot table's host load), as an
    int64 array: one call for all hosts."""
    cdef Py_ssize_t n = len(timelines), h
    out = np.empty(n, dtype=np.int64)
    cdef long long[::1] v = out
    for h in range(n):
        v[h] = (<Timeline>timelines[h]).s.n
    return out


def prune_all(list timelines, double now):
    """:meth:`Timeline.prune` on every timeline of the list: one call for all hosts."""
    cdef Py_ssize_t h
    for h in range(len(timelines)):
        (<Timeline>timelines[h]).prune_c(now)
