# cython: language_level=3
"""A step function's storage as C arrays: ``n`` sorted breakpoints ``t[0] .. t[n - 1]`` and,
segment by segment, ``nres`` free amounts each (segment k's at ``f + k * nres``), both
inside malloc'd buffers of ``cap`` breakpoints that the live part slides along: dropping
the past moves its start (no copy), an insert or delete moves the shorter side, and a
full buffer is compacted or doubled (amortised O(n) per edit, like a list's insert).
Inline, for timeline.pyx (a Timeline holds one); its readers read ``t``, ``f``, ``n``."""
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memmove


cdef struct Steps:
    double *t
    double *f
    Py_ssize_t n
    Py_ssize_t nres
    double *tbuf  # the allocations t and f point into
    double *fbuf
    Py_ssize_t cap


cdef inline int steps_alloc(Steps *s, Py_ssize_t nres, Py_ssize_t cap) except -1:
    """Empty buffers for ``cap`` breakpoints of ``nres`` amounts, the old ones freed."""
    steps_free(s)
    s.nres = nres
    s.tbuf = <double *>malloc(cap * sizeof(double))
    s.fbuf = <double *>malloc(cap * (nres if nres > 0 else 1) * sizeof(double))
    if s.tbuf == NULL or s.fbuf == NULL:
        steps_free(s)
        raise MemoryError()
    s.t = s.tbuf
    s.f = s.fbuf
    s.cap = cap
    return 0


cdef inline void steps_free(Steps *s) noexcept:
    free(s.tbuf)
    free(s.fbuf)
    s.t = s.f = s.tbuf = s.fbuf = NULL
    s.n = s.cap = 0


cdef inline int steps_room(Steps *s) except -1:
    """Room for one more breakpoint after the last: the live part moved to the front when
    the spare front is the larger half, else copied into buffers twice its length."""
    cdef Py_ssize_t n = s.n, nr = s.nres, cap = 2 * s.n + 8
    cdef double *tb
    cdef double *fb
    if (s.t - s.tbuf) + n < s.cap:
        return 0
    if cap <= s.cap:
        memmove(s.tbuf, s.t, n * sizeof(double))
        memmove(s.fbuf, s.f, n * nr * sizeof(double))
    else:
        tb = <double *>malloc(cap * sizeof(double))
        fb = <double *>malloc(cap * (nr if nr > 0 else 1) * sizeof(double))
        if tb == NULL or fb == NULL:
            free(tb)
            free(fb)
            raise MemoryError()
        memcpy(tb, s.t, n * sizeof(double))
        memcpy(fb, s.f, n * nr * sizeof(double))
        free(s.tbuf)
        free(s.fbuf)
        s.tbuf = tb
        s.fbuf = fb
        s.cap = cap
    s.t = s.tbuf
    s.f = s.fbuf
    return 0


cdef inline int steps_insert(Steps *s, Py_ssize_t i, double t) except -1:
    """Breakpoint ``t`` at index ``i`` (0 <= i <= n), those from ``i`` on one further;
    its free amounts are left for the caller to write."""
    cdef Py_ssize_t nr = s.nres
    if i < s.n - i and s.t > s.tbuf:
        memmove(s.t - 1, s.t, i * sizeof(double))
        memmove(s.f - nr, s.f, i * nr * sizeof(double))
        s.t -= 1
        s.f -= nr
    else:
        steps_room(s)
        memmove(s.t + i + 1, s.t + i, (s.n - i) * sizeof(double))
        memmove(s.f + (i + 1) * nr, s.f + i * nr, (s.n - i) * nr * sizeof(double))
    s.t[i] = t
    s.n += 1
    return 0


cdef inline void steps_delete(Steps *s, Py_ssize_t i) noexcept:
    """Drop breakpoint ``i`` (0 <= i < n) and its free amounts."""
    cdef Py_ssize_t nr = s.nres, tail = s.n - 1 - i
    if i < tail:
        memmove(s.t + 1, s.t, i * sizeof(double))
        memmove(s.f + nr, s.f, i * nr * sizeof(double))
        s.t += 1
        s.f += nr
    else:
        memmove(s.t + i, s.t + i + 1, tail * sizeof(double))
        memmove(s.f + i * nr, s.f + (i + 1) * nr, tail * nr * sizeof(double))
    s.n -= 1


cdef inline void steps_drop_front(Steps *s, Py_ssize_t i) noexcept:
    """Forget the first ``i`` breakpoints (0 <= i < n): the start moves on."""
    s.t += i
    s.f += i * s.nres
    s.n -= i
