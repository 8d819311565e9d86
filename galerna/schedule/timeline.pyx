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
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memmove

from galerna.schedule.bisection cimport left, right

import numpy as np

EPS = 1e-9
cdef double _EPS = 1e-9


cdef class Timeline:
    # attributes and C-level methods are declared in timeline.pxd

    def __cinit__(self):
        self.t = self.f = self._tbuf = self._fbuf = NULL
        self.n = self._cap = 0

    def __init__(self, capacity, origin=0.0):
        cdef Py_ssize_t r
        self.capacity = tuple(capacity)
        self.nres = len(self.capacity)
        _reallocate(self, 8)
        self.n = 1
        self.t[0] = origin
        for r in range(self.nres):
            self.f[r] = self.capacity[r]
        self.version = 0

    def __dealloc__(self):
        free(self._tbuf)
        free(self._fbuf)

    def __reduce__(self):
        return (_rebuild, (self.capacity, self.times, self.free, self.version))

    @property
    def times(self):
        """The breakpoints, as a new list (a copy: for Python readers and tests)."""
        cdef Py_ssize_t k
        cdef list out = []
        for k in range(self.n):
            out.append(self.t[k])
        return out

    @property
    def free(self):
        """Per resource, the free amount of every segment, as new lists (a copy)."""
        cdef Py_ssize_t nr = self.nres, k, r
        cdef list out = [], col
        for r in range(nr):
            col = []
            for k in range(self.n):
                col.append(self.f[k * nr + r])
            out.append(col)
        return out

    # ------------------------------------------------------------------ edit
    cdef int _room(self) except -1:
        """Room for one more breakpoint after the last: the live part moved to the front
        of the buffers when their front half is spare, else copied into buffers twice as
        long (so an insert is amortised O(n), like a list's)."""
        cdef Py_ssize_t off = self.t - self._tbuf, nr = self.nres, cap
        cdef double *tb
        cdef double *fb
        if off + self.n < self._cap:
            return 0
        cap = 2 * self.n + 8
        if cap <= self._cap:
            memmove(self._tbuf, self.t, self.n * sizeof(double))
            memmove(self._fbuf, self.f, self.n * nr * sizeof(double))
        else:
            tb = self._tbuf
            fb = self._fbuf
            _allocate(self, cap)  # frees neither old buffer: the live part is copied first
            memcpy(self._tbuf, tb + off, self.n * sizeof(double))
            memcpy(self._fbuf, fb + off * nr, self.n * nr * sizeof(double))
            free(tb)
            free(fb)
        self.t = self._tbuf
        self.f = self._fbuf
        return 0

    cdef Py_ssize_t _insert(self, Py_ssize_t i, double t) except -1:
        """Breakpoint ``t`` at index ``i``, the ones from ``i`` on moved up; its free row is
        left for the caller to write. Moves the shorter side: into the spare front when
        the insert is in the first half."""
        cdef Py_ssize_t nr = self.nres
        if i < self.n - i and self.t > self._tbuf:
            memmove(self.t - 1, self.t, i * sizeof(double))
            memmove(self.f - nr, self.f, i * nr * sizeof(double))
            self.t -= 1
            self.f -= nr
        else:
            self._room()
            memmove(self.t + i + 1, self.t + i, (self.n - i) * sizeof(double))
            memmove(self.f + (i + 1) * nr, self.f + i * nr, (self.n - i) * nr * sizeof(double))
        self.t[i] = t
        self.n += 1
        return i

    cdef void _delete(self, Py_ssize_t i) noexcept:
        """Drop breakpoint ``i`` and its free row (0 <= i < n), moving the shorter side."""
        cdef Py_ssize_t nr = self.nres
        if i < self.n - 1 - i:
            memmove(self.t + 1, self.t, i * sizeof(double))
            memmove(self.f + nr, self.f, i * nr * sizeof(double))
            self.t += 1
            self.f += nr
        else:
            memmove(self.t + i, self.t + i + 1, (self.n - 1 - i) * sizeof(double))
            memmove(self.f + i * nr, self.f + (i + 1) * nr, (self.n - 1 - i) * nr * sizeof(double))
        self.n -= 1

    cdef Py_ssize_t _split(self, double t) except -1:
        """Index of the segment starting at ``t``, inserting a breakpoint if needed."""
        cdef Py_ssize_t i = right(self.t, 0, self.n, t) - 1, r, nr = self.nres
        if i < 0:
            # Before the origin: extend backwards with full capacity.
            self._insert(0, t)
            for r in range(nr):
                self.f[r] = self.capacity[r]
            return 0
        if self.t[i] == t:
            return i
        self._insert(i + 1, t)
        memcpy(self.f + (i + 1) * nr, self.f + i * nr, nr * sizeof(double))
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
        cdef double *f = self.f
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
            k = left(self.t, 0, self.n, x)
            if k < self.n and self.t[k] == x:
                self._merge(k)

    def reserve(self, start, end, demand):
        self.add(start, end, demand, -1.0)

    def release(self, start, end, demand):
        self.add(start, end, demand, 1.0)

    cdef void _merge(self, Py_ssize_t i) noexcept:
        """Drop breakpoint ``i`` when it separates two equal segments."""
        cdef Py_ssize_t r, nr = self.nres
        if i <= 0 or i >= self.n:
            return
        for r in range(nr):
            if fabs(self.f[i * nr + r] - self.f[(i - 1) * nr + r]) > _EPS:
                return
        self._delete(i)

    def prune(self, double now):
        """Forget segments that ended before ``now``."""
        self.prune_c(now)

    cdef void prune_c(self, double now) noexcept:
        cdef Py_ssize_t i = right(self.t, 0, self.n, now) - 1
        if i > 0:
            self.t += i
            self.f += i * self.nres
            self.n -= i

    # ----------------------------------------------------------------- query
    cdef Py_ssize_t _fits_at(self, Py_ssize_t k, const double *need) noexcept:
        """Whether ``need`` fits in segment ``k`` (free + EPS >= need, resource by resource)."""
        cdef Py_ssize_t r, nr = self.nres
        cdef const double *row = self.f + k * nr
        for r in range(nr):
            if row[r] + _EPS < need[r]:
                return 0
        return 1

    def slots(self, double start, double end, demand, long cap):
        """How many copies of ``demand`` fit over the whole of [start, end), at most ``cap``."""
        cdef Py_ssize_t i = right(self.t, 0, self.n, start) - 1, n = self.n, r, nr = self.nres
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
                    f = self.f[i * nr + r] + _EPS
                    if f < need:
                        return 0
                    k = <long>(f / need)
                    if k < best:
                        best = k
            i += 1
            if i >= n or self.t[i] >= end:
                return best

    def fits(self, start, end, demand):
        return self.slots(start, end, demand, 1) >= 1

    def free_at(self, double t):
        cdef Py_ssize_t i = right(self.t, 0, self.n, t) - 1, r
        if i < 0:
            i = 0
        return tuple([self.f[i * self.nres + r] for r in range(self.nres)])

    def next_change(self, double t):
        """First breakpoint strictly after ``t`` (inf if none)."""
        cdef Py_ssize_t i = right(self.t, 0, self.n, t)
        return self.t[i] if i < self.n else INFINITY

    def __len__(self):
        return self.n

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
        return (self.t[lo], self.t[hi] if hi < self.n else INFINITY)

    cdef Py_ssize_t longest_c(self, double a, double b, const double *need, double m0, double m1,
                              Py_ssize_t *hi_out) except -2:
        """:meth:`longest_run` on C doubles: the index of the longest stretch's first
        segment and, in ``hi_out``, the index of the breakpoint ending it (n for inf);
        -1 if none (the answer is then (a, a))."""
        cdef const double *times = self.t
        cdef Py_ssize_t n = self.n, i, lo, hi, best_lo = -1, best_hi = -1
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
        if m0 <= self.t[k] and (k + 1 >= n or self.t[k + 1] <= m1):
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
        cdef const double *times = self.t
        cdef Py_ssize_t n = self.n, i
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
        cdef const double *times = self.t
        cdef Py_ssize_t n = self.n, i, nr = self.nres
        cdef double dnow = now, dlen = length, end, s = 0.0
        cdef bint running = False, at_now = False  # walking a free stretch; it starts at now
        i = right(times, 0, n, dnow) - 1
        if i < 0:
            i = 0
        while i < n:
            if self.f[i * nr] >= 1.0 - _EPS:
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


cdef int _allocate(Timeline tl, Py_ssize_t cap) except -1:
    """New buffers for ``cap`` breakpoints (the old ones are the caller's to free);
    ``t`` and ``f`` point at their start."""
    cdef Py_ssize_t nr = tl.nres if tl.nres > 0 else 1
    cdef double *tb = <double *>malloc(cap * sizeof(double))
    cdef double *fb = <double *>malloc(cap * nr * sizeof(double))
    if tb == NULL or fb == NULL:
        free(tb)
        free(fb)
        raise MemoryError()
    tl._tbuf = tl.t = tb
    tl._fbuf = tl.f = fb
    tl._cap = cap
    return 0


cdef int _reallocate(Timeline tl, Py_ssize_t cap) except -1:
    """Empty buffers for ``cap`` breakpoints in place of the old ones (freed)."""
    free(tl._tbuf)
    free(tl._fbuf)
    tl.t = tl.f = tl._tbuf = tl._fbuf = NULL
    tl.n = tl._cap = 0
    return _allocate(tl, cap)


def _rebuild(capacity, times, free, version):
    """Unpickle: a timeline with these breakpoints and free amounts (lists, as pickled)."""
    cdef Timeline tl = Timeline(capacity)
    cdef Py_ssize_t n = len(times), nr = tl.nres, k, r
    if n < 1 or len(free) != nr or any([len(col) != n for col in free]):
        raise ValueError(f"{n} breakpoints and free amounts of {[len(col) for col in free]} segments")
    _reallocate(tl, n + 8)
    for k in range(n):
        tl.t[k] = times[k]
        for r in range(nr):
            tl.f[k * nr + r] = free[r][k]
    tl.n = n
    tl.version = version
    return tl


def lengths(list timelines):
    """Per timeline, how many breakpoints it has (the slot table's host load), as an
    int64 array: one call for all hosts."""
    cdef Py_ssize_t n = len(timelines), h
    out = np.empty(n, dtype=np.int64)
    cdef long long[::1] v = out
    for h in range(n):
        v[h] = (<Timeline>timelines[h]).n
    return out


def prune_all(list timelines, double now):
    """:meth:`Timeline.prune` on every timeline of the list: one call for all hosts."""
    cdef Py_ssize_t h
    for h in range(len(timelines)):
        (<Timeline>timelines[h]).prune_c(now)
