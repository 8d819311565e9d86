# cython: language_level=3
"""hostfit's C-level interface, for compression.pyx to cimport. See hostfit.pyx."""


cdef bint site_fits(slots, need, double length, double t, double last, double held_from) except -1
