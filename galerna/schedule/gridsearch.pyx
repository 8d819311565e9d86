# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Searches over the slot table's grid, compiled: each call answers one whole
scheduling question (no numpy temporaries, no per-cell Python), because call
overhead on small arrays, not arithmetic, is what the core spent its time on.

The grid is the table's ``(segments, hosts, resources)`` array of free capacity
and ``times`` its breakpoints with ``inf`` appended (``SlotTable.times_array``).
The comparisons are written exactly as the numpy versions they replaced
(``free + EPS >= need``), so schedules stay byte-identical.
"""
from libc.math cimport INFINITY
from libc.stdlib cimport free, malloc

from galerna.schedule.bisection cimport left, list_left, list_right, right

import numpy as np

cdef double EPS = 1e-9


cdef int _columns(hosts, Py_ssize_t nhosts, long *hs) except -1:
    """Copy the grid columns ``hosts`` into ``hs``, each checked to be one of the grid's."""
    cdef Py_ssize_t h
    cdef long col
    for h in range(len(hosts)):
        col = hosts[h]
        if col < 0 or col >= nhosts:
            raise IndexError(f"host {col} is not in the grid's {nhosts} hosts")
        hs[h] = col
    return 0


def earliest_on_enough(const double[:, :, ::1] grid, const double[::1] times, hosts, need, int count,
                       double length, double earliest, double before):
    """Earliest start in [earliest, before) at which at least ``count`` of ``hosts``
    each have ``need`` free for ``length``, or up to ``before``; None if there is none.
    The earliest such start is always where a segment begins (or ``earliest``).

    Row k (from ``earliest``'s) is tried as a start; a host counts there when the first
    row from k on where ``need`` does not fit begins no earlier than the start plus
    ``length`` (or ``before``), less EPS. Lazily, since most questions ask for (nearly)
    all of the hosts and most answers are None: a row is decided as soon as enough hosts
    count or too many cannot, those found blocked are asked first at the next row, and a
    host's first blocking row is looked for only when asked, once per stretch. A host
    that cannot count at row k cannot up to its first blocking row b either (the same
    end, a start no earlier), so it is not asked again before b + 1."""
    cdef Py_ssize_t n = times.shape[0] - 1  # live segments; times[n] is inf
    cdef Py_ssize_t nh = len(hosts), nr = grid.shape[2], nhosts = grid.shape[1]
    cdef Py_ssize_t i0 = right(&times[0], 0, n, earliest) - 1
    if i0 < 0:
        i0 = 0
    cdef Py_ssize_t i1 = left(&times[0], 0, n, before)
    cdef Py_ssize_t m = i1 - i0
    if m <= 0 or count > nh:
        return None
    if len(need) != nr:
        raise ValueError(f"need has {len(need)} resources, the grid {nr}")
    cdef Py_ssize_t k, j, h, r, b, col, ok, bad, spare = nh - count
    cdef double start, reach, end, t0, res = 0.0
    cdef bint found = False, fits
    cdef long *hs = <long *>malloc(nh * sizeof(long) + 1)
    cdef double *nd = <double *>malloc(nr * sizeof(double) + 1)
    # Per entry of ``hosts``: its first blocking row at or after the last row it was asked
    # at (-1: not looked for), the last row at which it surely cannot count, and the order
    # in which the entries are asked (those found blocked first).
    cdef Py_ssize_t *first_bad = <Py_ssize_t *>malloc(3 * nh * sizeof(Py_ssize_t) + 1)
    cdef Py_ssize_t *blocked_to = first_bad + nh
    cdef Py_ssize_t *order = first_bad + 2 * nh
    if hs == NULL or nd == NULL or first_bad == NULL:
        free(hs); free(nd); free(first_bad)
        raise MemoryError()
    try:
        _columns(hosts, nhosts, hs)
        for r in range(nr):
            nd[r] = need[r]
        with nogil:
            for j in range(nh):
                first_bad[j] = -1
                blocked_to[j] = -1
                order[j] = j
            t0 = times[i0] if times[i0] > earliest else earliest
            for k in range(m):
                start = t0 if k == 0 else times[i0 + k]
                reach = start + length
                if reach > before:
                    reach = before
                ok = 0
                bad = 0
                for j in range(nh):
                    if ok >= count or bad > spare:
                        break
                    h = order[j]
                    if blocked_to[h] < k:
                        b = first_bad[h]
                        if b < k:
                            col = hs[h]
                            b = k
                            while b < m:
                                fits = True
                                for r in range(nr):
                                    if not (grid[i0 + b, col, r] + EPS >= nd[r]):
                                        fits = False
                                        break
                                if not fits:
                                    break
                                b += 1
                            first_bad[h] = b
                        end = before if b == m else (t0 if b == 0 else times[i0 + b])
                        if end + EPS >= reach:
                            ok += 1
                            continue
                        blocked_to[h] = b
                    # cannot count here: to the front, asked first at the next row
                    order[j] = order[bad]
                    order[bad] = h
                    bad += 1
                if ok >= count:
                    res = start
                    found = True
                    break
    finally:
        free(hs)
        free(nd)
        free(first_bad)
    return res if found else None


cdef Py_ssize_t first_blocked(const double[:, ::1] tot, list times, double start, double end,
                              const double *nd, Py_ssize_t nr) except -2:
    """-1 if the totals ``tot`` have ``nd`` (``nr`` resources) over [start, end); else the index
    of the first segment after the first blocking one where they have it (len(times) if none).
    The one walk behind total_fits and hostfit.site_fits."""
    cdef Py_ssize_t n = len(times), r, k, bad = -1
    cdef Py_ssize_t i = list_right(times, 0, start) - 1
    if i < 0:
        i = 0
    cdef Py_ssize_t j = list_left(times, i + 1, end)
    if j < i + 1:
        j = i + 1
    for k in range(i, j):
        for r in range(nr):
            if tot[k, r] + EPS < nd[r]:
                bad = k
                break
        if bad >= 0:
            break
    if bad < 0:
        return -1
    for k in range(bad + 1, n):
        for r in range(nr):
            if tot[k, r] + EPS < nd[r]:
                break
        else:
            return k
    return n


def total_fits(const double[:, ::1] tot, list times, start, end, demand):
    """``start`` if the site-wide free capacity ``tot`` (one row per segment of
    ``times``) has ``demand`` over [start, end), else the start of the first segment
    after the first blocking one where it has (inf if none): a lower bound on any
    feasible start. The answer is ``start`` itself or an element of ``times``."""
    cdef Py_ssize_t n = len(times), nr = tot.shape[1], r, k
    if tot.shape[0] < n:
        raise ValueError(f"{tot.shape[0]} rows of totals for {n} segments")
    if len(demand) != nr:
        raise ValueError(f"demand has {len(demand)} resources, the totals {nr}")
    cdef double nd[16]
    if nr > 16:
        raise ValueError(f"at most 16 resource types, not {nr}")
    for r in range(nr):
        nd[r] = demand[r]
    k = first_blocked(tot, times, start, end, nd, nr)
    if k < 0:
        return start
    return times[k] if k < n else float("inf")


def fit_counts(const double[:, ::1] least, want, double n, blocked=None):
    """Per host, how many copies of ``want`` fit in ``least`` (one row per host, the
    least free over a window): floor((least + EPS) / want) at its tightest resource,
    ``n`` when ``want`` asks for nothing, 0 on the hosts listed in ``blocked``. A
    float array, as the numpy expression it replaced gave."""
    cdef Py_ssize_t nh = least.shape[0], nr = least.shape[1], h, r
    if len(want) != nr:
        raise ValueError(f"want has {len(want)} resources, the hosts {nr}")
    cdef double w[16]
    if nr > 16:
        raise ValueError(f"at most 16 resource types, not {nr}")
    cdef bint any_col = False
    for r in range(nr):
        w[r] = want[r]
        if w[r] > 0:
            any_col = True
    out = np.empty(nh)
    cdef double[::1] counts = out
    for h in range(nh):
        counts[h] = fit_count(least, h, w, nr) if any_col else n
    if blocked is not None:
        for b in blocked:
            h = b
            if h < 0 or h >= nh:
                raise IndexError(f"host {h} is not among the {nh} hosts")
            counts[h] = 0.0
    return out


def in_place_start(const double[:, :, ::1] grid, const double[::1] tarr, list times, list hosts, list want,
                   earliest, double before, double length):
    """The grid part of ``SlotTable.earliest_in_place``, in one call: the earliest start in
    [earliest, before) at which every host of ``hosts`` has its row of ``want`` free
    (free + EPS >= want) from there on for ``length``, or up to ``before``; None if none.

    As the numpy code it replaced: when the rows fit right up to ``before``, the start of
    that last stretch is the answer (max(its breakpoint, earliest), the objects compared as
    Python's ``max`` does), even if an earlier hole is long enough; else the first stretch
    at least ``length`` long, as a float. ``tarr`` is ``times`` as doubles with inf appended."""
    cdef Py_ssize_t n = len(times), nh = len(hosts), nr = grid.shape[2], nhosts = grid.shape[1]
    cdef Py_ssize_t i0, i1, k, h, r, last_bad = -1, run = -1
    cdef double de = earliest, s
    if tarr.shape[0] != n + 1 or grid.shape[0] < n:
        raise ValueError(f"{tarr.shape[0]} breakpoints as doubles, {grid.shape[0]} grid rows for {n} segments")
    if len(want) != nh:
        raise ValueError(f"want has {len(want)} rows for {nh} hosts")
    i0 = list_right(times, 0, de) - 1
    if i0 < 0:
        i0 = 0
    i1 = list_left(times, 0, before)
    if i1 <= i0:
        return None
    cdef long *hs = <long *>malloc(nh * sizeof(long) + 1)
    cdef double *nd = <double *>malloc(nh * nr * sizeof(double) + 1)
    cdef Py_ssize_t first = -1  # start row of the first stretch long enough
    cdef bint ok
    if hs == NULL or nd == NULL:
        free(hs); free(nd)
        raise MemoryError()
    try:
        _columns(hosts, nhosts, hs)
        for h in range(nh):
            row = want[h]
            if len(row) != nr:
                raise ValueError(f"want has {len(row)} resources, the grid {nr}")
            for r in range(nr):
                nd[h * nr + r] = row[r]
        with nogil:
            for k in range(i0, i1):
                ok = True
                for h in range(nh):
                    for r in range(nr):
                        if not (grid[k, hs[h], r] + EPS >= nd[h * nr + r]):
                            ok = False
                            break
                    if not ok:
                        break
                if ok:
                    if run < 0:
                        run = k
                    continue
                if run >= 0 and first < 0:
                    s = tarr[run] if tarr[run] > de else de  # np.maximum(t, earliest)
                    if tarr[k] - s >= length - EPS:
                        first = run
                last_bad = k
                run = -1
    finally:
        free(hs)
        free(nd)
    if run >= 0:
        # Free right up to its slot: it can start as early as this stretch begins.
        x = times[last_bad + 1 if last_bad >= 0 else i0]
        return earliest if earliest > x else x
    if first < 0:
        return None
    return tarr[first] if tarr[first] > de else de


def fits_on(const double[:, :, ::1] grid, list times, list hosts, list need, start, end):
    """Mapper.map_fixed's question as one call: whether each of ``hosts`` has its row of
    ``need`` free over [start, end), that is ``(window(start, end)[hosts] + EPS >= need).all()``
    for the table's ``window`` (the least free over the segments the interval overlaps)."""
    cdef Py_ssize_t nt = len(times), nr = grid.shape[2], i, j, k, q, r, col
    cdef double m, x
    if nt > grid.shape[0]:
        raise ValueError(f"{nt} breakpoints for a grid of {grid.shape[0]} rows")
    if len(need) != len(hosts):
        raise ValueError(f"{len(need)} rows of demand for {len(hosts)} hosts")
    i = list_right(times, 0, <double>start) - 1  # SlotTable.rows
    if i < 0:
        i = 0
    j = list_left(times, i + 1, <double>end)
    if j < i + 1:
        j = i + 1
    for k in range(len(hosts)):
        col = hosts[k]
        if col < 0 or col >= grid.shape[1]:
            raise IndexError(f"host {col} is not in the grid's {grid.shape[1]} hosts")
        row = need[k]
        if len(row) != nr:
            raise ValueError(f"demand {row!r} has {len(row)} resources, the grid {nr}")
        for r in range(nr):
            x = row[r]
            m = grid[i, col, r]
            for q in range(i + 1, j):
                if grid[q, col, r] < m:
                    m = grid[q, col, r]
            if not (m + EPS >= x):
                return False
    return True
