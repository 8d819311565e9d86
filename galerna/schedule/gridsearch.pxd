# The site-wide walk that gridsearch.total_fits answers for Python and hostfit.site_fits repeats per try.
cdef Py_ssize_t first_blocked(const double[:, ::1] tot, list times, double start, double end,
                              const double *nd, Py_ssize_t nr) except -2
