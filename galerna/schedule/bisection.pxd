# cython: language_level=3
"""The bisections the compiled core's modules share (cimported, inlined where used).

``list_right`` / ``list_left`` are ``bisect.bisect_right`` / ``bisect_left`` on a sorted
Python list of numbers (a timeline's or the table's breakpoints, compared as C doubles);
``right`` / ``left`` the same on a C array of doubles (``SlotTable.times_array()``), over
[lo, n). One copy, so that every module bisects alike.
"""


cdef inline Py_ssize_t list_right(list a, Py_ssize_t lo, double x):
    cdef Py_ssize_t hi = len(a), mid
    while lo < hi:
        mid = (lo + hi) >> 1  # lo, hi >= 0: (lo + hi) // 2 without Python division semantics
        if x < <double>a[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


cdef inline Py_ssize_t list_left(list a, Py_ssize_t lo, double x):
    cdef Py_ssize_t hi = len(a), mid
    while lo < hi:
        mid = (lo + hi) >> 1  # lo, hi >= 0: (lo + hi) // 2 without Python division semantics
        if <double>a[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


cdef inline Py_ssize_t right(const double *a, Py_ssize_t lo, Py_ssize_t n, double x) noexcept nogil:
    cdef Py_ssize_t hi = n, mid
    while lo < hi:
        mid = (lo + hi) >> 1  # lo, hi >= 0: (lo + hi) // 2 without Python division semantics
        if x < a[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


cdef inline Py_ssize_t left(const double *a, Py_ssize_t lo, Py_ssize_t n, double x) noexcept nogil:
    cdef Py_ssize_t hi = n, mid
    while lo < hi:
        mid = (lo + hi) >> 1  # lo, hi >= 0: (lo + hi) // 2 without Python division semantics
        if a[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo
