# cython: language_level=3
"""The per-host timeline's C-level interface, for the other compiled modules to cimport:
its breakpoints and free amounts as C arrays (read them in place: ``t[k]`` for k < n,
segment k's free amounts at ``f + k * nres``) and its walks as C functions (C doubles in
and out), without a Python call, tuple or float object per question. See timeline.pyx."""


cdef class Timeline:
    cdef double *t  # the breakpoints, sorted: t[0] .. t[n - 1] (inside _tbuf, from an offset)
    cdef double *f  # free amounts, segment by segment: nres doubles per breakpoint (inside _fbuf)
    cdef Py_ssize_t n
    cdef double *_tbuf  # the allocations t and f point into, _cap breakpoints each
    cdef double *_fbuf
    cdef Py_ssize_t _cap
    cdef public tuple capacity
    cdef readonly Py_ssize_t nres
    cdef public long version  # bumped by every change of free capacity

    cdef int _room(self) except -1
    cdef Py_ssize_t _insert(self, Py_ssize_t i, double t) except -1
    cdef void _delete(self, Py_ssize_t i) noexcept
    cdef Py_ssize_t _split(self, double t) except -1
    cdef int add_c(self, double start, double end, const double *delta, double sign) except -1
    cdef void _merge(self, Py_ssize_t i) noexcept
    cdef void prune_c(self, double now) noexcept
    cdef Py_ssize_t _fits_at(self, Py_ssize_t k, const double *need) noexcept
    cdef bint _ok(self, Py_ssize_t k, Py_ssize_t n, const double *need, double m0, double m1) noexcept
    cdef Py_ssize_t longest_c(self, double a, double b, const double *need, double m0, double m1,
                              Py_ssize_t *hi_out) except -2
    cdef bint may_fit_c(self, const double *nd, double dlen, double de, double dbefore) except -1
