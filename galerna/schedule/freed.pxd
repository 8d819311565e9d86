# cython: language_level=3
"""FreedSpans' C-level interface, for compression.pyx to cimport: the per-lease window
asked as a C call (C doubles in and out). See freed.pyx."""


cdef class _Stretches:
    cdef object small
    cdef double need[16]
    cdef Py_ssize_t nr
    cdef double *best  # per span (parallel to FreedSpans.a), its longest stretch
    cdef double top  # the longest of them (-inf for none)


cdef class FreedSpans:
    cdef public object slots
    cdef public double now
    cdef readonly Py_ssize_t m  # how many spans
    cdef Py_ssize_t nh, cap  # hosts; room in the span arrays
    cdef double *a  # per span (sorted by host, then begin) its begin and end
    cdef double *b
    cdef Py_ssize_t *first  # per host: index of its first span, and how many
    cdef Py_ssize_t *count
    cdef dict _cache  # small -> its _Stretches
    cdef object _last_small  # the small asked last, and its _Stretches
    cdef _Stretches _last

    cdef _Stretches _measured(self, small)
    cdef int add_c(self, list given, set taken) except -1
    cdef int window_c(self, small, double length, double before, const Py_ssize_t *own, Py_ssize_t nown,
                      double m0, double m1, double *lo_out, double *hi_out) except -1
