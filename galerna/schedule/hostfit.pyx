# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compression's two questions about the whole site, on the slot table's grid and totals:
could enough hosts take a lease earlier at all (``hosts_could_start``), and has the site
as a whole room for it in a window (``site_fits``, cimported by compression.pyx). Each walk
is the Python or numpy one it replaced, on the same doubles (``free + EPS >= need``), so
schedules stay byte-identical.
"""
cimport cython
from libc.math cimport INFINITY
from libc.stdlib cimport calloc, free

from galerna.schedule.bisection cimport left, list_left, list_right, right

cdef double _EPS = 1e-9


@cython.boundscheck(False)
@cython.wraparound(False)
cdef bint site_fits(slots, need, double length, double t, double last, double held_from) except -1:
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
