# cython: language_level=3
"""The per-host timeline's C-level interface, for the other compiled modules to cimport:
its breakpoints and free amounts as C arrays (read them in place: ``s.t[k]`` for k < s.n,
segment k's free amounts at ``s.f + k * nres``) and its walks as C functions (C doubles in
and out), without a Python call, tuple or float object per question. See timeline.pyx."""


from galerna.schedule.steps cimport Steps


cdef class Timeline:
    cdef Steps s  # breakpoints s.t[0 .. s.n), free amounts s.f, nres per segment (see steps.pxd)
    cdef public tuple capacity
    cdef readonly Py_ssize_t nres
    cdef public long version  # bumped by every change of free capacity

    cdef Py_ssize_t _split(self, double t) except -1
    cdef int add_c(self, double start, double end, const double *delta, double sign) except -1
    cdef void _merge(self, Py_ssize_t i) noexcept
    cdef void prune_c(self, double now) noexcept
    cdef Py_ssize_t _fits_at(self, Py_ssize_t k, const double *need) noexcept
    cdef bint _ok(self, Py_ssize_t k, Py_ssize_t n, const double *need, double m0, double m1) noexcept
    cdef Py_ssize_t longest_c(self, double a, double b, const double *need, double m0, double m1,
                              Py_ssize_t *hi_out) except -2
    cdef bint may_fit_c(self, const double *nd, double dlen, double de, double dbefore) except -1
