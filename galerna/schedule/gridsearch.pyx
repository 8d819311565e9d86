# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Searches over the slot table's grid, compiled: each call answers one whole
scheduling question (no numpy temporaries, no per-cell Python), because call
overhead on small arrays, not arithmetic, is what the core spent its time on.

The grid is the table's ``(segments, hosts, resources)`` array of free capacity
and ``times`` its breakpoints with ``inf`` appended (``SlotTable.times_array``).
The comparisons are written exactly as the numpy versions they replaced
(``free + EPS >= need``), so schedules stay byte-identical.
"""
from libc.stdlib cimport free, malloc

cdef double EPS = 1e-9


cdef Py_ssize_t _bisect_right(const double[::1] a, Py_ssize_t n, double x) noexcept nogil:
    cdef Py_ssize_t lo = 0, hi = n, mid
    while lo < hi:
        mid = (lo + hi) // 2
        if x < a[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


cdef Py_ssize_t _bisect_left(const double[::1] a, Py_ssize_t lo, Py_ssize_t n, double x) noexcept nogil:
    cdef Py_ssize_t hi = n, mid
    while lo < hi:
        mid = (lo + hi) // 2
        if a[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


def earliest_on_enough(const double[:, :, ::1] grid, const double[::1] times, hosts, need, int count,
                       double length, double earliest, double before):
    """Earliest start in [earliest, before) at which at least ``count`` of ``hosts``
    each have ``need`` free for ``length``, or up to ``before``; None if there is none.
    The earliest such start is always where a segment begins (or ``earliest``)."""
    cdef Py_ssize_t n = times.shape[0] - 1  # live segments; times[n] is inf
    cdef Py_ssize_t nh = len(hosts), nr = grid.shape[2], nhosts = grid.shape[1]
    cdef Py_ssize_t i0 = _bisect_right(times, n, earliest) - 1
    if i0 < 0:
        i0 = 0
    cdef Py_ssize_t i1 = _bisect_left(times, 0, n, before)
    cdef Py_ssize_t m = i1 - i0
    if m <= 0 or count > nh:
        return None
    if len(need) != nr:
        raise ValueError(f"need has {len(need)} resources, the grid {nr}")
    cdef Py_ssize_t k, h, r, c, b, col
    cdef double start, reach, end, t0, res = 0.0
    cdef bint found = False
    cdef long *hs = <long *>malloc(nh * sizeof(long))
    cdef double *nd = <double *>malloc(nr * sizeof(double))
    cdef Py_ssize_t *next_bad = <Py_ssize_t *>malloc(m * nh * sizeof(Py_ssize_t))
    if hs == NULL or nd == NULL or next_bad == NULL:
        free(hs); free(nd); free(next_bad)
        raise MemoryError()
    try:
        for h in range(nh):
            col = hosts[h]
            if col < 0 or col >= nhosts:
                raise IndexError(f"host {col} is not in the grid's {nhosts} hosts")
            hs[h] = col
        for r in range(nr):
            nd[r] = need[r]
        with nogil:
            # Per host and row, the first row from there on where ``need`` does not fit (m if none).
            for h in range(nh):
                c = m
                for k in range(m - 1, -1, -1):
                    for r in range(nr):
                        if not (grid[i0 + k, hs[h], r] + EPS >= nd[r]):
                            c = k
                            break
                    next_bad[k * nh + h] = c
            t0 = times[i0] if times[i0] > earliest else earliest
            for k in range(m):
                start = t0 if k == 0 else times[i0 + k]
                reach = start + length
                if reach > before:
                    reach = before
                c = 0
                for h in range(nh):
                    b = next_bad[k * nh + h]
                    end = before if b == m else (t0 if b == 0 else times[i0 + b])
                    if end + EPS >= reach:
                        c += 1
                if c >= count:
                    res = start
                    found = True
                    break
    finally:
        free(hs)
        free(nd)
        free(next_bad)
    return res if found else None
