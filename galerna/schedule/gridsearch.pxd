from libc.math cimport INFINITY, floor

# The site-wide walk that gridsearch.total_fits answers for Python and hostfit.site_fits repeats per try.
cdef Py_ssize_t first_blocked(const double[:, ::1] tot, list times, double start, double end,
                              const double *nd, Py_ssize_t nr) except -2


cdef inline double fit_count(const double[:, :] least, Py_ssize_t h, const double *w, Py_ssize_t nr) noexcept:
    """How many VMs of size ``w`` fit in row ``h`` of ``least``: at the tightest resource,
    floor((least + EPS) / want), EPS = 1e-9 (``fit_counts`` for Python, placement.pyx per host)."""
    cdef double c = INFINITY, q
    cdef Py_ssize_t r
    for r in range(nr):
        if w[r] > 0:
            q = (least[h, r] + 1e-9) / w[r]
            # floor: for 0 <= q < 2**52 the truncation is exact and far cheaper
            # than libm's floor on a target without SSE4.1's round instruction
            q = <double>(<long long>q) if 0.0 <= q < 4503599627370496.0 else floor(q)
            if q < c:
                c = q
    return c
