# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The mapper's placement of alike VMs, compiled: count how many fit on each host,
rank the hosts by the host-selection policy and hand out the VMs — one call per
"where do these VMs go over this window?", instead of a numpy call per step
(fit counts, lexsort, repeat), whose overhead on 144 hosts was the cost.

The ranking is the policies' own (``policies/host_selection.py``): the same keys
in the same precedence, host index last, so the order is total and equal to
``numpy.lexsort``'s; the counts are ``fit_counts``' (``floor((free + EPS) / want)``
at the tightest resource). Schedules stay byte-identical.
"""
from libc.math cimport INFINITY, floor
from libc.stdlib cimport free as cfree, malloc

from galerna.schedule.bisection cimport list_left, list_right

import numpy as np

from galerna.schedule.gridsearch import total_fits

cdef double EPS = 1e-9

# Policy codes (see Mapper): the orderings this module ranks hosts by.
GREEDY = 0
PACKING = 1
STRIPING = 2


cdef inline bint _before(int policy, Py_ssize_t a, Py_ssize_t b, const double[:, :] least,
                         const long long *load) noexcept:
    """Whether host ``a`` ranks before host ``b``."""
    cdef double fa0 = least[a, 0], fb0 = least[b, 0], fa1 = least[a, 1], fb1 = least[b, 1]
    if policy == 0:  # greedy: fewer leases, then more free (first resource, then second)
        if load[a] != load[b]:
            return load[a] < load[b]
        if fa0 != fb0:
            return fa0 > fb0
        if fa1 != fb1:
            return fa1 > fb1
    elif policy == 1:  # packing: less free first
        if fa0 != fb0:
            return fa0 < fb0
        if fa1 != fb1:
            return fa1 < fb1
    else:  # striping: more free first
        if fa0 != fb0:
            return fa0 > fb0
        if fa1 != fb1:
            return fa1 > fb1
    return a < b


cdef void _sort(Py_ssize_t *xs, Py_ssize_t *tmp, Py_ssize_t n, int policy, const double[:, :] least,
                const long long *load) noexcept:
    """Merge sort of host indices by :func:`_before` (a total order: any sort gives lexsort's)."""
    cdef Py_ssize_t width = 1, lo, mid, hi, i, j, k
    cdef Py_ssize_t *src = xs
    cdef Py_ssize_t *dst = tmp
    cdef Py_ssize_t *sw
    while width < n:
        lo = 0
        while lo < n:
            mid = lo + width if lo + width < n else n
            hi = lo + 2 * width if lo + 2 * width < n else n
            i, j, k = lo, mid, lo
            while i < mid and j < hi:
                if _before(policy, src[j], src[i], least, load):
                    dst[k] = src[j]
                    j += 1
                else:
                    dst[k] = src[i]
                    i += 1
                k += 1
            while i < mid:
                dst[k] = src[i]
                i += 1
                k += 1
            while j < hi:
                dst[k] = src[j]
                j += 1
                k += 1
            lo = hi
        sw = src
        src = dst
        dst = sw
        width *= 2
    if src != xs:
        for i in range(n):
            xs[i] = src[i]


def place_alike(const double[:, :] least, want, Py_ssize_t n, blocked, load, int policy):
    """Hosts for ``n`` VMs of size ``want`` given ``least`` (per host and resource, the
    least free over the window), or None when they do not all fit. ``blocked`` lists
    hosts that take none (or is None); ``load`` is the table's ``load`` (called only
    by the greedy policy, which ranks by it). Fills one host before the next (greedy,
    packing) or one VM per host per round (striping)."""
    cdef Py_ssize_t nh = least.shape[0], nr = least.shape[1], h, r, m = 0, k, placed, take
    if len(want) != nr:
        raise ValueError(f"want has {len(want)} resources, the hosts {nr}")
    if nr > 16 or nr < 2:
        raise ValueError(f"the host-selection policies rank by 2 to 16 resource types, not {nr}")
    if policy < 0 or policy > 2:
        raise ValueError(f"no placement policy {policy}")
    cdef double w[16]
    cdef bint any_col = False
    for r in range(nr):
        w[r] = want[r]
        if w[r] > 0:
            any_col = True
    cdef double *counts = <double *>malloc(nh * sizeof(double))
    cdef Py_ssize_t *order = <Py_ssize_t *>malloc(nh * sizeof(Py_ssize_t))
    cdef Py_ssize_t *tmp = <Py_ssize_t *>malloc(nh * sizeof(Py_ssize_t))
    cdef long long *loads = <long long *>malloc(nh * sizeof(long long))
    if counts == NULL or order == NULL or tmp == NULL or loads == NULL:
        cfree(counts); cfree(order); cfree(tmp); cfree(loads)
        raise MemoryError()
    cdef double c, q, total = 0.0
    cdef const long long[::1] lv
    try:
        for h in range(nh):
            if not any_col:
                counts[h] = <double>n
                continue
            c = INFINITY
            for r in range(nr):
                if w[r] > 0:
                    q = floor((least[h, r] + EPS) / w[r])
                    if q < c:
                        c = q
            counts[h] = c
        if blocked is not None:
            for b in blocked:
                h = b
                if h < 0 or h >= nh:
                    raise IndexError(f"host {h} is not among the {nh} hosts")
                counts[h] = 0.0
        for h in range(nh):
            total += counts[h]
            if counts[h] > 0:
                order[m] = h
                m += 1
        if m == 0 or total < <double>n:
            return None
        if policy == 0:
            per = np.ascontiguousarray(load(), dtype=np.int64)
            if per.shape[0] != nh:
                raise ValueError(f"load has {per.shape[0]} hosts, the window {nh}")
            lv = per
            for h in range(nh):
                loads[h] = lv[h]
        _sort(order, tmp, m, policy, least, loads)
        out = []
        placed = 0
        if policy != 2:
            for k in range(m):
                h = order[k]
                take = <Py_ssize_t>(counts[h] if counts[h] < <double>n else <double>n)
                while take > 0 and placed < n:
                    out.append(h)
                    placed += 1
                    take -= 1
                if placed == n:
                    break
        else:
            r = 0
            while placed < n:
                for k in range(m):
                    h = order[k]
                    if (counts[h] if counts[h] < <double>n else <double>n) >= r + 1 and placed < n:
                        out.append(h)
                        placed += 1
                r += 1
        return tuple(out)
    finally:
        cfree(counts)
        cfree(order)
        cfree(tmp)
        cfree(loads)


def total_demand(vecs):
    """Resource by resource, the sum of the VMs' demands, added in VM order from 0.0
    as the built-in ``sum`` of Python 3.11 adds floats; demands that are not all
    floats are summed by ``sum`` itself."""
    cdef Py_ssize_t nv = len(vecs), nr, r, k
    cdef double acc
    first = vecs[0]
    nr = len(first)
    for v in vecs:
        if type(v) is not tuple or len(<tuple>v) != nr:
            return tuple(sum(v[r] for v in vecs) for r in range(nr))
        for x in <tuple>v:
            if type(x) is not float:
                return tuple(sum(v[r] for v in vecs) for r in range(nr))
    out = []
    for r in range(nr):
        acc = 0.0
        for k in range(nv):
            acc += <double>(<tuple>vecs[k])[r]
        out.append(acc)
    return tuple(out)


def alike(vecs):
    """Whether all VMs ask for the same (``v == vecs[0]`` for each)."""
    first = vecs[0]
    for v in vecs:
        if not (v == first):
            return False
    return True


def earliest_alike(table, want, Py_ssize_t n, need, duration, earliest, latest_start, blocked, int policy):
    """Mapper.earliest for ``n`` alike VMs of size ``want`` (``need`` their total), as
    one call: the earliest start >= ``earliest`` (and <= ``latest_start``) where they
    all fit on ``table`` for ``duration``, and their hosts; or None. The walk is the
    Python one's: the site-wide fit first (jumping past blocking segments), then the
    least free per host over the window (the table's ``window``, taken from the grid
    here, the table's own cache for a window over every live segment), placed by
    :func:`place_alike`, else on to the next breakpoint. The starts returned are the
    very objects the Python walk returned (``earliest`` or breakpoints)."""
    cdef list times = table.times
    cdef const double[:, :, ::1] grid = table._grid
    cdef Py_ssize_t nt = table.n, nh = grid.shape[1], nr = grid.shape[2], i, j, h, r, k
    cdef double late = latest_start, dt, x, m
    if len(times) != nt:
        raise ValueError(f"{len(times)} breakpoints for {nt} segments")
    tot = table._tot
    load = table.load
    least = np.empty((nh, nr))
    cdef double[:, ::1] lv = least
    t = earliest
    while <double>t <= late + EPS and <double>t != INFINITY:
        end = t + duration
        t2 = total_fits(tot, times, t, end, need)
        if <double>t2 != <double>t:
            t = t2
            continue
        dt = t
        i = list_right(times, 0, dt) - 1
        if i < 0:
            i = 0
        j = list_left(times, i + 1, <double>end)
        if j < i + 1:
            j = i + 1
        if i == 0 and j == nt and j > 16:
            free = table.window(t, end)  # over every live segment: the table's per-column cache
        else:
            for h in range(nh):
                for r in range(nr):
                    m = grid[i, h, r]
                    for k in range(i + 1, j):
                        x = grid[k, h, r]
                        if x < m:
                            m = x
                    lv[h, r] = m
            free = least
        hosts = place_alike(free, want, n, blocked, load, policy)
        if hosts is not None:
            return t, hosts
        i = list_right(times, 0, dt)
        t = times[i] if i < nt else INFINITY
    return None
