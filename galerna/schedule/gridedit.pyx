# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The slot table's grid edits, compiled: adding a lease's demand to a run of rows
and telling whether two neighbouring rows are equal (a breakpoint that can merge
away), each one call instead of several numpy calls on small slices.

The arithmetic is the numpy versions' own (``grid[i:j, hosts] += delta * sign``,
totals plus the per-host rows summed in host order), so schedules stay
byte-identical.
"""
from libc.math cimport fabs

cdef double EPS = 1e-9


def add_rows(double[:, :, ::1] grid, double[:, ::1] tot, Py_ssize_t i, Py_ssize_t j, hosts,
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
