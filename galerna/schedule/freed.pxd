# cython: language_level=3
"""FreedSpans' C-level interface, for compression.pyx to cimport: the per-lease window
asked as a C call (C doubles in and out). See freed.pyx."""


cdef class FreedSpans:
    cdef public object slots
    cdef public double now
    cdef public list spans
    cdef Py_ssize_t[::1] _first, _count  # per host: index of its first span, and how many
    cdef Py_ssize_t[::1] _spare_first, _spare_count  # the pair before (see _index)
    cdef double[::1] _a, _b  # per span (sorted by host, then begin) its begin and end; may be longer
    cdef dict _cache  # small -> (per-span stretch array, longest)

    cdef int _index(self) except -1
    cdef list _merged_with(self, list new)
    cdef void _stretches_into(self, small, list hosts, double[::1] best)
    cdef int window_c(self, small, double length, double before, tuple own, double m0, double m1,
                      double *lo_out, double *hi_out) except -1
