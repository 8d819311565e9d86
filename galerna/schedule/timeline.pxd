# cython: language_level=3
"""The per-host timeline's C-level interface, for the other compiled modules to cimport:
its walks called as C functions (C doubles in and out), without a Python call or tuple
per question. See timeline.pyx."""


cdef class Timeline:
    cdef public list times
    cdef public list free
    cdef public tuple capacity
    cdef public Py_ssize_t nres
    cdef public long version  # bumped by every change of free capacity

    cdef Py_ssize_t _split(self, object t)
    cdef int add_c(self, start, end, const double *delta, double sign) except -1
    cdef void _merge(self, Py_ssize_t i)
    cdef Py_ssize_t _fits_at(self, Py_ssize_t k, const double *need) noexcept
    cdef bint _ok(self, Py_ssize_t k, Py_ssize_t n, const double *need, double m0, double m1) noexcept
    cdef Py_ssize_t longest_c(self, double a, double b, const double *need, double m0, double m1,
                              Py_ssize_t *hi_out) except -2
    cdef bint may_fit_c(self, const double *nd, double dlen, double de, double dbefore) except -1
