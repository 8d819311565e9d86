# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""A step function of free capacity over time, for one host or for the image link.

Breakpoints live in a sorted Python list and each resource's free amount in a
parallel list, so splitting, reserving and window queries are a bisection plus
a short scan of the segments inside the window — cost grows with the number
of reservations overlapping the window, not with the length of the queue.
Segments ending before ``now`` are dropped by :meth:`prune`, so a long
simulation does not drag its past along.

Compiled (Cython) because these walks are called millions of times per run and
their cost was interpreter overhead per segment. The lists stay Python lists
holding the very objects the Python version held (readers such as the image
link's deadline search walk them), and every comparison and sum is the same
double arithmetic, so schedules are byte-identical. Whole walks over one
timeline (the longest unbroken stretch, the first hole of the link) are methods
here, one call per question.
"""
from libc.math cimport INFINITY

from galerna.schedule.bisection cimport list_left, list_right

import numpy as np

EPS = 1e-9
cdef double _EPS = 1e-9


cdef inline double _at(list xs, Py_ssize_t k):
    return <double>xs[k]


cdef class Timeline:
    # attributes and C-level methods are declared in timeline.pxd

    def __init__(self, capacity, origin=0.0):
        self.capacity = tuple(capacity)
        self.nres = len(self.capacity)
        self.times = [origin]
        self.free = [[c] for c in self.capacity]
        self.version = 0

    def __reduce__(self):
        return (_rebuild, (self.capacity, self.times, self.free, self.version))

    # ------------------------------------------------------------------ edit
    cdef Py_ssize_t _split(self, object t):
        """Index of the segment starting at ``t``, inserting a breakpoint if needed."""
        cdef list times = self.times, col
        cdef Py_ssize_t i = list_right(times, 0, t) - 1, r
        if i < 0:
            # Before the origin: extend backwards with full capacity.
            times.insert(0, t)
            for r in range(self.nres):
                col = self.free[r]
                col.insert(0, self.capacity[r])
            return 0
        if <double>times[i] == <double>t:
            return i
        times.insert(i + 1, t)
        for col in self.free:
            col.insert(i + 1, col[i])
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

    cdef int add_c(self, start, end, const double *delta, double sign) except -1:
        """:meth:`add` with the demand as C doubles (``nres`` of them): gridedit's edit
        calls it per host without a Python call or a tuple."""
        if not (<double>end > <double>start):
            return 0
        self.version += 1
        cdef Py_ssize_t i = self._split(start)
        cdef Py_ssize_t j = self._split(end)
        cdef Py_ssize_t r, k
        cdef double d
        cdef list col
        for r in range(self.nres):
            d = delta[r] * sign
            if d != 0.0:
                col = self.free[r]
                for k in range(i, j):
                    col[k] = <double>col[k] + d
        if sign > 0:
            self._merge(j)
            self._merge(i)
        return 0

    def coalesce(self, start, end):
        """Merge the breakpoints at ``start`` and ``end`` away where they separate equal
        segments. A reserve does not (a host's breakpoints count its leases), but on
        a busy link back-to-back transfers are then one segment to walk past."""
        cdef list times = self.times
        cdef Py_ssize_t k
        for t in (end, start):
            k = list_left(times, 0, t)
            if k < len(times) and <double>times[k] == <double>t:
                self._merge(k)

    def reserve(self, start, end, demand):
        self.add(start, end, demand, -1.0)

    def release(self, start, end, demand):
        self.add(start, end, demand, 1.0)

    cdef void _merge(self, Py_ssize_t i):
        """Drop breakpoint ``i`` when it separates two equal segments."""
        cdef list col
        if i <= 0 or i >= len(self.times):
            return
        for col in self.free:
            if abs(<double>col[i] - <double>col[i - 1]) > _EPS:
                return
        del self.times[i]
        for col in self.free:
            del col[i]

    def prune(self, now):
        """Forget segments that ended before ``now``."""
        cdef Py_ssize_t i = list_right(self.times, 0, now) - 1
        cdef list col
        if i > 0:
            del self.times[:i]
            for col in self.free:
                del col[:i]

    # ----------------------------------------------------------------- query
    cdef Py_ssize_t _fits_at(self, Py_ssize_t k, const double *need) noexcept:
        """Whether ``need`` fits in segment ``k`` (free + EPS >= need, resource by resource)."""
        cdef Py_ssize_t r
        for r in range(self.nres):
            if <double>(<list>self.free[r])[k] + _EPS < need[r]:
                return 0
        return 1

    def slots(self, start, end, demand, long cap):
        """How many copies of ``demand`` fit over the whole of [start, end), at most ``cap``."""
        cdef list times = self.times, free = self.free
        cdef Py_ssize_t i = list_right(times, 0, start) - 1, n = len(times), r
        cdef double e = end, need, f
        cdef long best = cap, k
        if i < 0:
            i = 0
        while True:
            for r in range(self.nres):
                need = demand[r]
                if need > 0:
                    f = <double>(<list>free[r])[i] + _EPS
                    if f < need:
                        return 0
                    k = <long>(f / need)
                    if k < best:
                        best = k
            i += 1
            if i >= n or <double>times[i] >= e:
                return best

    def fits(self, start, end, demand):
        return self.slots(start, end, demand, 1) >= 1

    def free_at(self, t):
        cdef Py_ssize_t i = list_right(self.times, 0, t) - 1
        if i < 0:
            i = 0
        return tuple([col[i] for col in self.free])

    def next_change(self, t):
        """First breakpoint strictly after ``t`` (inf if none)."""
        cdef Py_ssize_t i = list_right(self.times, 0, t)
        return self.times[i] if i < len(self.times) else float("inf")

    def __len__(self):
        return len(self.times)

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
        return (self.times[lo], self.times[hi] if hi < len(self.times) else float("inf"))

    cdef Py_ssize_t longest_c(self, double a, double b, const double *need, double m0, double m1,
                              Py_ssize_t *hi_out) except -2:
        """:meth:`longest_run` on C doubles: the index of the longest stretch's first
        segment and, in ``hi_out``, the index of the breakpoint ending it (len(times)
        for inf); -1 if none (the answer is then (a, a))."""
        cdef list times = self.times
        cdef Py_ssize_t n = len(times), i, lo, hi, best_lo = -1, best_hi = -1
        cdef double end, best_len = a - a, blo
        i = list_right(times, 0, a) - 1
        if i < 0:
            i = 0
        while i < n and <double>times[i] < b:
            if not self._ok(i, n, need, m0, m1):
                i += 1
                continue
            lo = i
            while lo > 0 and self._ok(lo - 1, n, need, m0, m1):
                lo -= 1
            hi = i
            while hi + 1 < n and self._ok(hi + 1, n, need, m0, m1):
                hi += 1
            end = <double>times[hi + 1] if hi + 1 < n else INFINITY
            blo = <double>times[lo]
            if end - blo > best_len:
                best_lo, best_hi = lo, hi + 1
                best_len = end - blo
            i = hi + 1
        hi_out[0] = best_hi
        return best_lo

    cdef bint _ok(self, Py_ssize_t k, Py_ssize_t n, const double *need, double m0, double m1) noexcept:
        if m0 <= <double>self.times[k] and (k + 1 >= n or <double>self.times[k + 1] <= m1):
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
        cdef list times = self.times
        cdef Py_ssize_t n = len(times), i
        cdef double run_from = 0.0, end, t
        cdef bint running = False
        i = list_right(times, 0, de) - 1
        if i < 0:
            i = 0
        while i < n and <double>times[i] < dbefore:
            if self._fits_at(i, nd):
                if not running:
                    t = times[i]
                    run_from = de if de > t else t
                    running = True
                end = <double>times[i + 1] if i + 1 < n else INFINITY
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
        first resource is wholly free (free >= 1 - EPS): the image link's next send."""
        cdef list times = self.times, free = self.free[0]
        cdef Py_ssize_t n = len(times), i
        cdef double dnow = now, dlen = length, end, s = 0.0
        start = None  # start of the free stretch being walked (the object, as a time)
        i = list_right(times, 0, now) - 1
        if i < 0:
            i = 0
        while i < n:
            if <double>free[i] >= 1.0 - _EPS:
                if start is None:
                    start = now if dnow > <double>times[i] else times[i]  # max(times[i], now)
                    s = start
                end = <double>times[i + 1] if i + 1 < n else INFINITY
                if end - s >= dlen - _EPS:
                    return start
            else:
                start = None
            i += 1
        return max(now, times[n - 1])


def _rebuild(capacity, times, free, version):
    tl = Timeline(capacity)
    tl.times = list(times)
    tl.free = [list(col) for col in free]
    tl.version = version
    return tl


def lengths(list timelines):
    """Per timeline, how many breakpoints it has (the slot table's host load), as an
    int64 array: one call for all hosts."""
    cdef Py_ssize_t n = len(timelines), h
    out = np.empty(n, dtype=np.int64)
    cdef long long[::1] v = out
    for h in range(n):
        v[h] = len((<Timeline>timelines[h]).times)
    return out


def prune_all(list timelines, now):
    """:meth:`Timeline.prune` on every timeline of the list: one call for all hosts."""
    cdef Py_ssize_t h
    for h in range(len(timelines)):
        (<Timeline>timelines[h]).prune(now)
