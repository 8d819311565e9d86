# cython: language_level=3
"""The image repository's C-level interface, for compression.pyx to cimport: the link's
questions asked per compression candidate as C calls (C doubles in and out). See images.pyx."""

from galerna.schedule.timeline cimport Timeline


cdef class Copy:
    cdef public object image, owner
    cdef public double size, ready, last_used


cdef class ImageRepository:
    cdef public object cfg
    cdef public Timeline link
    cdef public list cache, users
    cdef public dict owned, mine, holders, _copies_changed
    cdef public long _tick
    cdef readonly bint reuse, multicast
    cdef double _hole_now, _hole_length, _hole_at  # the last first hole asked: see first_short_hole_c
    cdef long _hole_version

    cpdef object image_of(self, req)
    cpdef object seconds(self, size, hosts)
    cdef double seconds_c(self, double per, Py_ssize_t hosts) noexcept
    cpdef bint has(self, host, image, double at, lease_id, double now) except -1
    cdef double first_short_hole_c(self, double now, double shortest) except? -1.0
    cdef double arrival_c(self, double now, double shortest, planned) except? -1.0
    cdef double ready_without_c(self, double now, double need, tr) except? -1.0
    cdef bint could_send_before_c(self, double now, double shortest, double sent_at) except -1
    cdef bint holds_own_c(self, image, lease_id, tuple own, copies, double at) except -1
    cpdef int _add(self, Py_ssize_t h, Copy c) except -1
    cdef int _remove(self, Py_ssize_t h, Copy c) except -1
    cdef int _own(self, Copy c, int delta) except -1
