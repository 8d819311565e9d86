# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compression's two questions about the whole site, on the slot table's grid and totals:
could enough hosts take a lease earlier at all (``hosts_could_start``), and has the site
as a whole room for it in a window (``site_fits``, cimported by compression.pyx). Each walk
is the Python or numpy one it replaced, on the same doubles (``free + EPS >= need``), so
schedules stay byte-identical.
"""
cimport cython
from libc.math cimport INFINITY
from libc.stdlib cimport calloc, free, realloc

from galerna.schedule.bisection cimport left, right
from galerna.schedule.gridsearch cimport first_blocked
from galerna.schedule.timeline cimport Timeline

cdef double _EPS = 1e-9


@cython.boundscheck(False)
@cython.wraparound(False)
cdef bint site_fits(slots, need, double length, double t, double last, double held_from) except -1:
    """Compressor._site_could_fit on the table's totals: from ``t`` on, each try ends at
    min(t + length, held_from); a blocked try goes on after the run of segments that
    blocks it (gridsearch.first_blocked, the walk total_fits answers with)."""
    cdef const double[:, ::1] tot = slots._tot
    cdef list times = slots.times
    cdef Py_ssize_t n = len(times), nr = tot.shape[1], r, k
    cdef double end
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
        k = first_blocked(tot, times, t, end, nd, nr)
        if k < 0:
            return True
        t = <double>times[k] if k < n else INFINITY
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


cdef class FitRuns:
    """Per host, the stretches of its timeline in which one VM of size ``small`` fits, as C
    doubles [begin, end) (begin -inf when the timeline's first segment fits: it stands for
    all time before it; end inf when the last does), each host's rebuilt only when its
    timeline changed (its version, or another Timeline object). For
    :func:`hosts_could_start_runs`, asked thousands of times between a host's edits."""
    cdef double nd[16]
    cdef Py_ssize_t nr, nh
    cdef list tls  # the Timeline each host's runs were read from (None: not yet)
    cdef long *version
    cdef double **runs  # per host, 2 * nruns doubles
    cdef Py_ssize_t *nruns
    cdef Py_ssize_t *cap

    def __cinit__(self, small, Py_ssize_t nhosts):
        cdef Py_ssize_t r
        self.nr = len(small)
        if self.nr > 16:
            raise ValueError(f"at most 16 resource types, not {self.nr}")
        for r in range(self.nr):
            self.nd[r] = small[r]
        self.nh = nhosts
        self.tls = [None] * nhosts
        self.version = <long *>calloc(nhosts + 1, sizeof(long))
        self.runs = <double **>calloc(nhosts + 1, sizeof(double *))
        self.nruns = <Py_ssize_t *>calloc(nhosts + 1, sizeof(Py_ssize_t))
        self.cap = <Py_ssize_t *>calloc(nhosts + 1, sizeof(Py_ssize_t))
        if self.version == NULL or self.runs == NULL or self.nruns == NULL or self.cap == NULL:
            raise MemoryError()

    def __dealloc__(self):
        cdef Py_ssize_t h
        if self.runs != NULL:
            for h in range(self.nh):
                free(self.runs[h])
        free(self.runs)
        free(self.version)
        free(self.nruns)
        free(self.cap)

    cdef int refresh(self, Py_ssize_t h, Timeline tl) except -1:
        """Host ``h``'s runs, read anew from ``tl`` if it is not the timeline they were read from."""
        if self.tls[h] is tl and self.version[h] == tl.version:
            return 0
        if tl.nres != self.nr:
            raise ValueError(f"small has {self.nr} resources, host {h} {tl.nres}")
        cdef const double *times = tl.s.t
        cdef const double *fr = tl.s.f
        cdef Py_ssize_t n = tl.s.n, j = 0, jj, m = 0
        cdef double *buf = self.runs[h]
        while j < n:
            if not _seg_fits(fr + j * self.nr, self.nd, self.nr):
                j += 1
                continue
            jj = j
            while jj + 1 < n and _seg_fits(fr + (jj + 1) * self.nr, self.nd, self.nr):
                jj += 1
            if 2 * m + 2 > self.cap[h]:
                self.cap[h] = 2 * self.cap[h] + 8
                buf = <double *>realloc(buf, self.cap[h] * sizeof(double))
                if buf == NULL:
                    self.runs[h] = NULL
                    self.cap[h] = 0
                    self.nruns[h] = 0
                    self.tls[h] = None
                    raise MemoryError()
                self.runs[h] = buf
            buf[2 * m] = -INFINITY if j == 0 else times[j]
            buf[2 * m + 1] = times[jj + 1] if jj + 1 < n else INFINITY
            m += 1
            j = jj + 1
        self.nruns[h] = m
        self.version[h] = tl.version
        self.tls[h] = tl
        return 0


def hosts_could_start_runs(FitRuns fr, list timelines, const double[::1] t, own, Py_ssize_t count,
                           double duration, double earliest, double held_from):
    """:func:`hosts_could_start` for the VM size of ``fr``, asked of the hosts' timelines
    (through ``fr``'s runs) instead of the grid's rows: the same starts are tried
    (``earliest``, then the breakpoints ``t`` before ``held_from``), and a host can take a
    start s exactly when s lies in one of its runs and that run reaches s + duration (on the
    asker's own hosts min(s + duration, held_from)): per run, the starts that can are one
    range (the reach only grows with the start), found by bisection and counted over all
    hosts at once. (A host's timeline and its grid column hold the same free capacity.)"""
    cdef Py_ssize_t n = t.shape[0] - 1, nh = len(timelines), h, i0, i1, m, q, k0, lo, hi, mid, kk, c
    cdef Py_ssize_t able = 0, first = 0  # hosts that can take some start, the first one
    cdef bint some
    cdef double cut, a, b, s, u, s_last
    cdef double *rr
    if nh != fr.nh:
        raise ValueError(f"{nh} timelines, the runs are for {fr.nh} hosts")
    if count > nh or not (earliest < held_from):
        return False
    if not (duration > 0):
        raise ValueError(f"duration must be positive, not {duration}")
    for x in own:
        if x < 0 or x >= nh:
            raise IndexError(f"host {x} is not among the {nh} timelines")
    i0 = right(&t[0], 0, n, earliest) - 1
    if i0 < 0:
        i0 = 0
    i1 = left(&t[0], 0, n, held_from)
    m = i1 - i0
    if m <= 0:
        return False
    s_last = earliest if i1 - 1 == i0 else t[i1 - 1]
    cdef int *diff = <int *>calloc((m + 1) * sizeof(int) + nh + 1, 1)
    if diff == NULL:
        raise MemoryError()
    cdef unsigned char *isown = <unsigned char *>(diff + m + 1)
    try:
        for x in own:
            isown[<Py_ssize_t>x] = 1
        for h in range(nh):
            if able + nh - h < count:
                return False  # even every host left could not make up count
            fr.refresh(h, <Timeline>timelines[h])
            cut = held_from if isown[h] else INFINITY
            rr = fr.runs[h]
            some = False
            for q in range(fr.nruns[h]):
                a = rr[2 * q]
                b = rr[2 * q + 1]
                if b <= earliest:
                    continue
                if a > s_last:
                    break
                # Every start tried in this run is >= max(a, earliest), so its reach (rounded
                # up as well) is at least that one's: when that passes b, none can.
                if cut > b and (a if a > earliest else earliest) + duration > b:
                    continue
                k0 = i0 if a <= earliest else left(&t[0], i0 + 1, i1, a)
                lo, hi = k0, i1  # the first start from k0 on whose reach leaves the run
                while lo < hi:
                    mid = (lo + hi) // 2
                    s = earliest if mid == i0 else t[mid]
                    u = s + duration
                    if cut < u:
                        u = cut
                    if u <= b and s < b:
                        lo = mid + 1
                    else:
                        hi = mid
                if lo > k0:
                    diff[k0 - i0] += 1
                    diff[lo - i0] -= 1
                    some = True
                    if k0 == i0:
                        first += 1  # this host can take the first start tried
            if some:
                able += 1
            if first >= count:
                return True  # the count at that start (diff's first prefix) is reached already
        if able < count:
            return False
        c = 0
        for kk in range(m):
            c += diff[kk]
            if c >= count:
                return True
        return False
    finally:
        free(diff)


cdef inline bint _seg_fits(const double *row, const double *nd, Py_ssize_t nr) noexcept:
    """One ``nd`` fits in a timeline's segment whose free amounts are ``row`` (free + EPS
    >= need, resources it does not use ignored), as the grid walk compares."""
    cdef Py_ssize_t r
    for r in range(nr):
        if nd[r] > 0 and not (row[r] + _EPS >= nd[r]):
            return False
    return True
