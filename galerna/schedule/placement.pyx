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
from libc.math cimport INFINITY
from libc.stdlib cimport free as cfree, malloc

from galerna.schedule.bisection cimport list_left, list_right
from galerna.schedule.gridsearch cimport first_blocked, fit_count

import numpy as np


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


cdef void _select(Py_ssize_t *xs, Py_ssize_t m, Py_ssize_t n, int policy, const double[:, :] least,
                  const long long *load) noexcept:
    """Move the ``n`` hosts of ``xs[:m]`` that rank first (by :func:`_before`) into
    ``xs[:n]``, in no particular order (0 < n < m): a heap of the best ``n`` so far, its
    worst on top. The order being total, sorting these ``n`` then gives the first ``n``
    of the whole sort."""
    cdef Py_ssize_t i, k, c, x
    for i in range(1, n):  # sift each up: parents rank after their children
        k = i
        x = xs[k]
        while k > 0 and _before(policy, xs[(k - 1) // 2], x, least, load):
            xs[k] = xs[(k - 1) // 2]
            k = (k - 1) // 2
        xs[k] = x
    for i in range(n, m):
        x = xs[i]
        if not _before(policy, x, xs[0], least, load):
            continue
        k = 0  # the top leaves: sift x down from the root
        while True:
            c = 2 * k + 1
            if c >= n:
                break
            if c + 1 < n and _before(policy, xs[c], xs[c + 1], least, load):
                c += 1
            if not _before(policy, x, xs[c], least, load):
                break
            xs[k] = xs[c]
            k = c
        xs[k] = x


cdef Py_ssize_t _fitting(const double *counts, Py_ssize_t nh, Py_ssize_t n, Py_ssize_t *order) noexcept:
    """The hosts that fit at least one VM, in index order, into ``order``: how many, or
    -1 when there are none or they cannot take all ``n`` VMs together."""
    cdef Py_ssize_t h, m = 0
    cdef double total = 0.0
    for h in range(nh):
        total += counts[h]
        if counts[h] > 0:
            order[m] = h
            m += 1
    if m == 0 or total < <double>n:
        return -1
    return m


cdef int _load_into(load, long long *loads, Py_ssize_t nh) except -1:
    """The table's ``load()`` (greedy ranks by it) into ``loads``."""
    per = np.ascontiguousarray(load(), dtype=np.int64)
    if per.shape[0] != nh:
        raise ValueError(f"load has {per.shape[0]} hosts, the window {nh}")
    cdef const long long[::1] lv = per
    cdef Py_ssize_t h
    for h in range(nh):
        loads[h] = lv[h]
    return 0


cdef tuple _hand_out(Py_ssize_t *order, Py_ssize_t *tmp, Py_ssize_t m, const double *counts, Py_ssize_t n,
                     int policy, const double[:, :] least, const long long *loads):
    """Rank the ``m`` fitting hosts in ``order`` and hand out the ``n`` VMs: one host
    filled before the next (greedy, packing) or one VM per host per round (striping).
    Each fitting host takes at least one VM, so only the first ``n`` of the ranking
    can be used: with more fitting hosts than that, only those are ranked."""
    cdef Py_ssize_t k, h, placed = 0, take, r
    if m > n:
        _select(order, m, n, policy, least, loads)
        m = n
    _sort(order, tmp, m, policy, least, loads)
    out = []
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


cdef int _check(Py_ssize_t nr, Py_ssize_t nwant, int policy) except -1:
    if nwant != nr:
        raise ValueError(f"want has {nwant} resources, the hosts {nr}")
    if nr > 16 or nr < 2:
        raise ValueError(f"the host-selection policies rank by 2 to 16 resource types, not {nr}")
    if policy < 0 or policy > 2:
        raise ValueError(f"no placement policy {policy}")
    return 0


cdef int _block(blocked, char *blk, Py_ssize_t nh) except -1:
    """Mark the hosts listed in ``blocked`` (or none, for None) in ``blk``."""
    cdef Py_ssize_t h
    for h in range(nh):
        blk[h] = 0
    if blocked is not None:
        for b in blocked:
            h = b
            if h < 0 or h >= nh:
                raise IndexError(f"host {h} is not among the {nh} hosts")
            blk[h] = 1
    return 0


cdef struct _Work:
    # Per host, the scratch both placements use: fit counts, ranked order and its
    # merge buffer, loads (greedy's key) and which hosts are blocked.
    double *counts
    Py_ssize_t *order
    Py_ssize_t *tmp
    long long *loads
    char *blk


cdef int _work(_Work *w, Py_ssize_t nh) except -1:
    """Allocate ``w`` for ``nh`` hosts (all or nothing)."""
    w.counts = <double *>malloc(nh * sizeof(double))
    w.order = <Py_ssize_t *>malloc(nh * sizeof(Py_ssize_t))
    w.tmp = <Py_ssize_t *>malloc(nh * sizeof(Py_ssize_t))
    w.loads = <long long *>malloc(nh * sizeof(long long))
    w.blk = <char *>malloc(nh * sizeof(char))
    if w.counts == NULL or w.order == NULL or w.tmp == NULL or w.loads == NULL or w.blk == NULL:
        _unwork(w)
        raise MemoryError()
    return 0


cdef void _unwork(_Work *w) noexcept:
    cfree(w.counts); cfree(w.order); cfree(w.tmp); cfree(w.loads); cfree(w.blk)
    w.counts = NULL; w.order = NULL; w.tmp = NULL; w.loads = NULL; w.blk = NULL


def place_alike(const double[:, :] least, want, Py_ssize_t n, blocked, load, int policy):
    """Hosts for ``n`` VMs of size ``want`` given ``least`` (per host and resource, the
    least free over the window), or None when they do not all fit. ``blocked`` lists
    hosts that take none (or is None); ``load`` is the table's ``load`` (called only
    by the greedy policy, which ranks by it). Fills one host before the next (greedy,
    packing) or one VM per host per round (striping)."""
    cdef Py_ssize_t nh = least.shape[0], nr = least.shape[1], h, r, m
    _check(nr, len(want), policy)
    cdef double w[16]
    cdef bint any_col = False
    for r in range(nr):
        w[r] = want[r]
        if w[r] > 0:
            any_col = True
    cdef _Work work
    _work(&work, nh)
    cdef double *counts = work.counts
    cdef Py_ssize_t *order = work.order
    cdef Py_ssize_t *tmp = work.tmp
    cdef long long *loads = work.loads
    cdef char *blk = work.blk
    try:
        _block(blocked, blk, nh)
        for h in range(nh):
            counts[h] = 0.0 if blk[h] else (fit_count(least, h, w, nr) if any_col else <double>n)
        m = _fitting(counts, nh, n, order)
        if m < 0:
            return None
        if policy == 0:
            _load_into(load, loads, nh)
        return _hand_out(order, tmp, m, counts, n, policy, least, loads)
    finally:
        _unwork(&work)


def total_demand(vecs):
    """Resource by resource, the sum of the VMs' demands, added in VM order from 0.0
    as the built-in ``sum`` of Python 3.11 adds floats; demands that are not all
    floats are summed by ``sum`` itself."""
    return _total_demand(vecs)


cdef tuple _total_demand(vecs):
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
    return _alike(vecs)


cdef bint _alike(vecs) except -1:
    first = vecs[0]
    for v in vecs:
        if not (v == first):
            return False
    return True


NOT_ALIKE = object()  # what earliest_alike answers for VMs that are not alike


cdef int _block_off(enabled, exclude, char *blk, Py_ssize_t nh) except -1:
    """Mark the hosts that take no VM in ``blk``: those not ``enabled`` (the table's
    list of flags) and those in ``exclude`` (a set of host indices, often empty)."""
    cdef Py_ssize_t h
    if type(enabled) is not list or len(<list>enabled) != nh:
        raise ValueError(f"the enabled flags must be a list of {nh}, not {enabled!r}")
    for h in range(nh):
        flag = (<list>enabled)[h]
        blk[h] = 0 if flag is True else (0 if flag else 1)
    if exclude:
        for b in exclude:
            h = b
            if 0 <= h < nh:
                blk[h] = 1
    return 0


def earliest_alike(table, vecs, duration, earliest, latest_start, exclude, int policy):
    """Mapper.earliest for VMs that are alike, as one call: the earliest start >=
    ``earliest`` (and <= ``latest_start``) where they all fit on ``table`` for
    ``duration``, off the hosts in ``exclude`` and those the table has not enabled,
    and their hosts; or None; or NOT_ALIKE when the VMs are not all alike (the
    Mapper then walks in Python). The walk is the
    Python one's: the site-wide fit first (jumping past blocking segments), then the
    least free per host over the window (the table's ``window``, taken from the grid
    here, the table's own cache for a window over every live segment), placed as
    :func:`place_alike` places, else on to the next breakpoint. The starts returned
    are the very objects the Python walk returned (``earliest`` or breakpoints).

    A host's least free is walked row by row only until it fits no VM (its count is
    then 0 whatever the rows after it hold, free capacity never being below -EPS; its
    row of the minima is then left stale, read by nothing), and not walked again while
    that row is in the window (later candidates' windows end later); blocked hosts
    are not walked; the table's ``load`` is read once per call (nothing changes the
    table during the walk)."""
    if not _alike(vecs):
        return NOT_ALIKE
    want = vecs[0]
    cdef Py_ssize_t n = len(vecs)
    need = _total_demand(vecs)
    cdef list times = table.times
    cdef const double[:, :, ::1] grid = table._grid
    cdef const double[:, ::1] tot = table._tot
    cdef Py_ssize_t nt = table.n, nh = grid.shape[1], nr = grid.shape[2], i, j, h, r, k, nfit
    cdef double late = latest_start, dt, x, m
    if len(times) != nt:
        raise ValueError(f"{len(times)} breakpoints for {nt} segments")
    if len(need) != nr:
        raise ValueError(f"need has {len(need)} resources, the totals {nr}")
    _check(nr, len(want), policy)
    cdef double w[16]
    cdef double nd[16]
    cdef bint any_col = False, dead, loaded = False
    for r in range(nr):
        w[r] = want[r]
        nd[r] = need[r]
        if w[r] > 0:
            any_col = True
    load = table.load
    least = np.empty((nh, nr))
    cdef double[:, ::1] lv = least
    cdef const double[:, :] free
    cdef _Work work
    _work(&work, nh)
    cdef double *counts = work.counts
    cdef Py_ssize_t *order = work.order
    cdef Py_ssize_t *tmp = work.tmp
    cdef long long *loads = work.loads
    cdef char *blk = work.blk
    # Per host, the row where it last fit no VM (-1: none yet); candidates only move
    # later. In ``tmp``, which only the ranking after the walk uses.
    cdef Py_ssize_t *dead_at = tmp
    for h in range(nh):
        dead_at[h] = -1
    try:
        _block_off(table.enabled, exclude, blk, nh)
        t = earliest
        while <double>t <= late + EPS and <double>t != INFINITY:
            end = t + duration
            k = first_blocked(tot, times, t, end, nd, nr)  # gridsearch.total_fits' walk
            if k >= 0:
                t = times[k] if k < nt else INFINITY
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
                for h in range(nh):
                    counts[h] = 0.0 if blk[h] else (fit_count(free, h, w, nr) if any_col else <double>n)
            else:
                for h in range(nh):
                    if blk[h] or dead_at[h] >= i:
                        # (a host that fit no VM at a row still in this window fits none now:
                        # the later window ends later, so it holds that row too)
                        counts[h] = 0.0
                        continue
                    dead = False
                    for r in range(nr):
                        m = grid[i, h, r]
                        if any_col and w[r] > 0:
                            # Stop once no VM fits: q = (m + EPS) / w below 1 (its floor 0;
                            # the division is monotone, so only if m + EPS < w).
                            if m + EPS < w[r] and (m + EPS) / w[r] < 1.0:
                                dead = True
                                dead_at[h] = i
                            else:
                                for k in range(i + 1, j):
                                    x = grid[k, h, r]
                                    if x < m:
                                        m = x
                                        if m + EPS < w[r] and (m + EPS) / w[r] < 1.0:
                                            dead = True
                                            dead_at[h] = k
                                            break
                        else:
                            for k in range(i + 1, j):
                                x = grid[k, h, r]
                                if x < m:
                                    m = x
                        if dead:
                            break
                        lv[h, r] = m
                    if dead:
                        counts[h] = 0.0
                    else:
                        counts[h] = fit_count(lv, h, w, nr) if any_col else <double>n
                free = lv
            nfit = _fitting(counts, nh, n, order)
            if nfit >= 0:
                if policy == 0 and not loaded:
                    _load_into(load, loads, nh)
                    loaded = True
                return t, _hand_out(order, tmp, nfit, counts, n, policy, free, loads)
            i = list_right(times, 0, dt)
            t = times[i] if i < nt else INFINITY
        return None
    finally:
        _unwork(&work)
