# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The slot table's grid edits, compiled: adding a lease's demand to a run of rows
and telling whether two neighbouring rows are equal (a breakpoint that can merge
away), each one call instead of several numpy calls on small slices.

The arithmetic is the numpy versions' own (``grid[i:j, hosts] += delta * sign``,
totals plus the per-host rows summed in host order), so schedules stay
byte-identical.
"""
from libc.math cimport INFINITY, fabs
from libc.string cimport memmove

from galerna.schedule.bisection cimport list_left, list_right
from galerna.schedule.timeline cimport Timeline

import numpy as np

cdef double EPS = 1e-9


cpdef add_rows(double[:, :, ::1] grid, double[:, ::1] tot, Py_ssize_t i, Py_ssize_t j, hosts,
               const double[:, ::1] delta, double sign):
    """Add ``delta * sign`` (one row per host of ``hosts``) to rows [i, j) of ``grid``
    and their sum to the same rows of the site-wide totals ``tot``."""
    cdef Py_ssize_t nh = len(hosts), nr = grid.shape[2], k, h, r, col
    cdef double s
    if delta.shape[0] != nh or delta.shape[1] != nr or tot.shape[1] != nr:
        raise ValueError(f"delta is {delta.shape[0]}x{delta.shape[1]} for {nh} hosts and {nr} resources")
    if not (0 <= i <= j <= grid.shape[0] and j <= tot.shape[0]):
        raise IndexError(f"rows [{i}, {j}) outside the grid's {grid.shape[0]}")
    cdef double[16] total
    if nr > 16:
        raise ValueError(f"at most 16 resource types, not {nr}")
    for r in range(nr):
        total[r] = delta[0, r] * sign
        for h in range(1, nh):
            total[r] = total[r] + delta[h, r] * sign
    for h in range(nh):
        col = hosts[h]
        if col < 0 or col >= grid.shape[1]:
            raise IndexError(f"host {col} is not in the grid's {grid.shape[1]} hosts")
    for h in range(nh):
        col = hosts[h]
        for k in range(i, j):
            for r in range(nr):
                grid[k, col, r] += delta[h, r] * sign
    for k in range(i, j):
        for r in range(nr):
            tot[k, r] += total[r]


def rows_equal(const double[:, :, ::1] grid, Py_ssize_t k):
    """Whether rows ``k - 1`` and ``k`` of ``grid`` differ nowhere by more than EPS."""
    cdef Py_ssize_t h, r
    if not (1 <= k < grid.shape[0]):
        raise IndexError(f"row {k} has no row before it in the grid's {grid.shape[0]}")
    for h in range(grid.shape[1]):
        for r in range(grid.shape[2]):
            if fabs(grid[k, h, r] - grid[k - 1, h, r]) > EPS:
                return False
    return True


# The rows of the edit in hand: one scratch array per module, grown when an edit has more
# hosts or another resource count (a new array per edit was an allocation, a view of it
# and a slice of it). Only a journaled edit keeps a copy.
cdef object _scratch = np.empty((0, 0))
cdef double[:, ::1] _rows = _scratch


cdef list _demand_rows(hosts_of, vecs, Py_ssize_t count, Py_ssize_t nres, list pairs=None):
    """VM k (k < count) of demand ``vecs[k]`` on host ``hosts_of[k]`` (or ``pairs[k]`` as
    (host, demand)), added up per host: the hosts in order of first appearance, their rows
    in ``_rows[:len(hosts)]``, the sums in VM order. Valid until the next call."""
    global _scratch, _rows
    if _rows.shape[0] < count or _rows.shape[1] != nres:
        _scratch = np.empty((max(count, 2 * <Py_ssize_t>_rows.shape[0], 16), nres))
        _rows = _scratch
    cdef double[:, ::1] d = _rows
    cdef list hosts = []
    cdef dict row_of = {}
    cdef Py_ssize_t r, k, i, m = 0
    for i in range(count):
        if pairs is None:
            h = hosts_of[i]
            v = vecs[i]
        else:
            h, v = pairs[i]
        if len(v) != nres:
            raise ValueError(f"demand {v!r} has {len(v)} resources, the table {nres}")
        got = row_of.get(h)
        if got is None:
            row_of[h] = m
            hosts.append(h)
            for r in range(nres):
                d[m, r] = <double>v[r]
            m += 1
        else:
            k = got
            for r in range(nres):
                d[k, r] = d[k, r] + <double>v[r]
    return hosts


def demand_rows(placed, Py_ssize_t nres):
    """What VMs placed as (host, demand) add up to on each host, as (hosts in order of
    first appearance, one row per host): ``demand_per_host`` and the array the grid
    edit takes, in one pass, the sums in the same order."""
    cdef list items = placed if type(placed) is list else list(placed)
    hosts = _demand_rows(None, None, len(items), nres, items)
    return hosts, _scratch[:len(hosts)].copy()


# ------------------------------------------------------------------ whole edits
# One call per change of the slot table (SlotTable._edit and tidy): split the
# breakpoints, add the demand to the per-host timelines, the grid and the totals,
# merge breakpoints away. The table's storage is read and written through its own
# attributes: ``times`` (the breakpoint objects, as given), ``_buf``/``_tbuf``/``_xbuf``
# (the grid, totals and breakpoints as doubles in buffers with room on both sides,
# from row ``_lo``; ``_xbuf`` has ``inf`` after the last breakpoint), ``n``.

cdef void _shift(double[:, :, ::1] buf, double[:, ::1] tbuf, double[::1] xbuf, Py_ssize_t src,
                 Py_ssize_t dst, Py_ssize_t count) noexcept:
    """Copy ``count`` buffer rows from ``src`` to ``dst`` (overlap allowed): grid, totals, breakpoints."""
    if count <= 0 or src == dst:
        return
    memmove(&buf[dst, 0, 0], &buf[src, 0, 0], count * buf.shape[1] * buf.shape[2] * sizeof(double))
    memmove(&tbuf[dst, 0], &tbuf[src, 0], count * tbuf.shape[1] * sizeof(double))
    memmove(&xbuf[dst], &xbuf[src], count * sizeof(double))


# ``_split`` and ``_merge`` work on views of the table's buffers that their caller took
# once per edit (taking a view of a numpy array is a buffer request each time: it was
# three per split and per merge); a split that regrows the table views the new buffers
# itself, and the caller, finding ``table._buf`` another object, views them anew. Both
# keep ``table._lo`` and ``table.n`` up to date and leave ``table._views()`` to the
# caller, once, when ``moved`` says the first row moved in its buffer.

cdef Py_ssize_t _split(table, t, double[:, :, ::1] buf, double[:, ::1] tbuf, double[::1] xbuf,
                       bint *moved) except -1:
    """Index of the segment starting at ``t``, inserting a breakpoint if needed."""
    cdef list times = table.times
    cdef double dt = t
    cdef Py_ssize_t i = list_right(times, 0, dt) - 1
    if i >= 0 and <double>times[i] == dt:
        return i
    cdef Py_ssize_t n = table.n, lo = table._lo, k = i + 1
    if k < n - k and lo > 0:
        _shift(buf, tbuf, xbuf, lo, lo - 1, k)  # rows [0, k) one to the left
        lo -= 1
        table._lo = lo
        moved[0] = True
    else:
        if lo + n == buf.shape[0]:
            table._regrow(n + 1)  # (views the new buffers itself)
            lo = table._lo
            buf = table._buf
            tbuf = table._tbuf
            xbuf = table._xbuf
        _shift(buf, tbuf, xbuf, lo + k, lo + k + 1, n - k)  # rows [k, n) one to the right
    if i < 0:
        # Before the origin: extend backwards with full capacity.
        table._buf[lo] = table.cap
        table._tbuf[lo] = table.total_capacity
    else:
        _shift(buf, tbuf, xbuf, lo + i, lo + k, 1)
    times.insert(k, t)
    xbuf[lo + k] = dt
    xbuf[lo + n + 1] = INFINITY
    table.n = n + 1
    return k


cdef bint _merge(table, Py_ssize_t k, double[:, :, ::1] buf, double[:, ::1] tbuf, double[::1] xbuf,
                 bint *moved) except -1:
    """Drop breakpoint ``k`` when it separates two equal segments; whether it did."""
    cdef Py_ssize_t n = table.n
    if k <= 0 or k >= n:
        return False
    cdef Py_ssize_t lo = table._lo, h, r
    for h in range(buf.shape[1]):
        for r in range(buf.shape[2]):
            if fabs(buf[lo + k, h, r] - buf[lo + k - 1, h, r]) > EPS:
                return False
    if k < n - k:
        _shift(buf, tbuf, xbuf, lo, lo + 1, k)  # rows [0, k) one to the right, over row k
        lo += 1
        table._lo = lo
        moved[0] = True
    else:
        _shift(buf, tbuf, xbuf, lo + k + 1, lo + k, n - k - 1)  # rows (k, n) one to the left
    xbuf[lo + n - 1] = INFINITY
    del (<list>table.times)[k]
    table.n = n - 1
    table.version += 1  # callers cache per version (tidy() merges outside an edit)
    return True


def tidy_at(table, start, end):
    """SlotTable.tidy: merge away the breakpoints of ``table`` at ``end`` and ``start``
    (in that order) where they no longer separate different segments."""
    cdef list times = table.times
    cdef Py_ssize_t k
    cdef bint moved = False
    cdef double[:, :, ::1] buf = None
    cdef double[:, ::1] tbuf
    cdef double[::1] xbuf
    for t in (end, start):
        k = list_left(times, 0, <double>t)
        if 0 < k < <Py_ssize_t>table.n and <double>times[k] == <double>t:
            if buf is None:
                buf, tbuf, xbuf = table._buf, table._tbuf, table._xbuf
            _merge(table, k, buf, tbuf, xbuf, &moved)
    if moved:
        table._views()


def edit(table, start, end, list hosts, delta, double sign, bint tidy):
    """SlotTable._edit: add ``delta * sign`` (one row per host of ``hosts``) over
    [start, end) to the per-host timelines, the grid and the totals; a release
    (``sign > 0``) with ``tidy`` merges the breakpoints at both ends away where they
    no longer separate different segments."""
    _edit(table, start, end, hosts, delta, sign, tidy)


cdef int _edit(table, start, end, list hosts, const double[:, ::1] d, double sign, bint tidy) except -1:
    cdef Py_ssize_t nh = len(hosts), nr = d.shape[1], k, r, col, i, j
    if d.shape[0] != nh:
        raise ValueError(f"delta has {d.shape[0]} rows for {nh} hosts")
    cdef list tls = table.hosts
    for k in range(nh):
        col = hosts[k]
        if col < 0 or col >= len(tls):
            raise IndexError(f"host {col} is not in the table's {len(tls)} hosts")
        if (<Timeline>tls[col]).nres != nr:
            raise ValueError(f"delta has {nr} resources, host {col} {(<Timeline>tls[col]).nres}")
    table.version += 1
    cdef bint moved = False
    bufobj = table._buf
    cdef double[:, :, ::1] buf = bufobj
    cdef double[:, ::1] tbuf = table._tbuf
    cdef double[::1] xbuf = table._xbuf
    i = _split(table, start, buf, tbuf, xbuf, &moved)
    if table._buf is not bufobj:  # regrown
        bufobj = table._buf
        buf, tbuf, xbuf = bufobj, table._tbuf, table._xbuf
    if <double>end != INFINITY:
        j = _split(table, end, buf, tbuf, xbuf, &moved)
        if table._buf is not bufobj:
            bufobj = table._buf
            buf, tbuf, xbuf = bufobj, table._tbuf, table._xbuf
    else:
        j = table.n
    for k in range(nh):
        (<Timeline>tls[<Py_ssize_t>hosts[k]]).add_c(start, end, &d[k, 0], sign)
    table._stale.update(hosts)
    cdef Py_ssize_t lo = table._lo
    add_rows(buf, tbuf, lo + i, lo + j, hosts, d, sign)  # cpdef: a C call on the buffers, rows from _lo
    if sign > 0 and tidy:
        _merge(table, j, buf, tbuf, xbuf, &moved)
        _merge(table, i, buf, tbuf, xbuf, &moved)
    if moved:
        table._views()
    return 0


cdef int _apply(table, start, end, hosts_of, vecs, Py_ssize_t count, double sign, bint tidy,
                list pairs=None) except -1:
    """VM k (k < count) of demand ``vecs[k]`` on host ``hosts_of[k]``, over [start, end):
    one edit, journaled when the table records (``begin``). Intervals no longer than
    EPS change nothing."""
    if end - start <= EPS:
        return 0
    hosts = _demand_rows(hosts_of, vecs, count, table.nres, pairs)
    cdef Py_ssize_t m = len(hosts)
    _edit(table, start, end, hosts, _rows[:m], sign, tidy)
    journal = table._journal
    if journal is not None:
        journal.append((start, end, hosts, _scratch[:m].copy(), sign))
    return 0


def apply(table, start, end, placed, double sign, bint tidy=True):
    """SlotTable._apply: the VMs ``placed`` as (host, demand) reserved (``sign`` -1) or
    released (+1) over [start, end)."""
    cdef list items = placed if type(placed) is list else list(placed)
    _apply(table, start, end, None, None, len(items), sign, tidy, items)


def apply_phases(table, phases, vecs, double sign, from_t, bint tidy=True, bint listed=False):
    """Book.hold and Book.release on the table, one call per plan: the capacity the
    planned ``phases`` hold from ``from_t`` on, as ``phases.stretches`` joins it
    (back-to-back holding phases on the same hosts are one stretch), VM k of ``vecs`` on
    ``hosts[k]`` reserved (``sign`` -1) or released (+1) over each (start, end, hosts),
    as ``apply`` of ``zip(hosts, vecs)`` would. Returns those stretches (the very start,
    end and hosts objects ``stretches`` gives) when ``listed``, else None."""
    cdef Py_ssize_t nv = len(vecs), nh
    cdef list out = [] if listed else None
    cdef double df = from_t
    cur_s = cur_e = cur_h = None
    for p in phases:
        if not p.holds:
            continue
        ps = p.start
        s = from_t if df > <double>ps else ps  # max(p.start, from_t): the first when equal
        pe = p.end
        if <double>pe <= <double>s + EPS:
            continue
        hosts = p.hosts
        if cur_h is not None and <double>cur_e == <double>s and (cur_h is hosts or cur_h == hosts):
            cur_e, cur_h = pe, hosts  # joined: (its start, this end, these hosts)
            continue
        if cur_h is not None:
            nh = len(cur_h)
            _apply(table, cur_s, cur_e, cur_h, vecs, nh if nh < nv else nv, sign, tidy)
            if listed:
                out.append((cur_s, cur_e, cur_h))
        cur_s, cur_e, cur_h = s, pe, hosts
    if cur_h is not None:
        nh = len(cur_h)
        _apply(table, cur_s, cur_e, cur_h, vecs, nh if nh < nv else nv, sign, tidy)
        if listed:
            out.append((cur_s, cur_e, cur_h))
    return out


def lost_minima(const double[:, :, ::1] grid, const double[:, ::1] colmin, Py_ssize_t i):
    """The hosts whose least free (``colmin``, per host and resource) may leave with rows
    [0, i) of ``grid``: at some resource those rows reach it (within EPS) and row ``i``
    is above it. In host order; ``SlotTable.prune`` recomputes them when next asked."""
    cdef Py_ssize_t nh = grid.shape[1], nr = grid.shape[2], h, r, k
    cdef double m, c
    if not (0 < i < grid.shape[0]) or colmin.shape[0] != nh or colmin.shape[1] != nr:
        raise ValueError(f"rows [0, {i}) of a grid of {grid.shape[0]}, column minima {colmin.shape[0]}x{colmin.shape[1]}")
    out = []
    for h in range(nh):
        for r in range(nr):
            c = colmin[h, r] + EPS
            if not grid[i, h, r] > c:
                continue
            m = grid[0, h, r]
            for k in range(1, i):
                if grid[k, h, r] < m:
                    m = grid[k, h, r]
            if m <= c:
                out.append(h)
                break
    return out
