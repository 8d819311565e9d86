# cython: language_level=3
"""Image preparation: disk images moved from one repository to the hosts.

The repository's link is a timeline of capacity 1: one transfer at a time.
Best-effort and deadline leases take the earliest hole (FIFO); advance
reservations take the latest hole that still ends before they boot (EDF),
leaving the near future to others. Unicast sends the image to each host in
turn; multicast sends it once to all. A lease's VMs sharing a host share one
copy. With ``reuse`` each host keeps images in a cache bounded in size,
evicting the least recently used image that no planned lease needs; an image
another lease brought is used once it has arrived.

Compiled (Cython) because compression asks the link's questions for every
candidate after every premature end (millions per run), and every re-plan
drops and holds a transfer with one copy per host: the questions are C methods
(images.pxd) on the link's own lists, and a copy is a C struct. The same
comparisons on the same doubles as the Python version, so plans are identical.
"""

from dataclasses import dataclass, field

from galerna.schedule.bisection cimport left, right

from galerna.config.schema import TransferMode
from galerna.schedule.timeline import EPS, Timeline

cdef double _EPS = 1e-9
cdef double _INF = float("inf")
ONE = (1.0,)


cdef class Copy:
    """One copy of an image on a host, planned or held; a copy is itself (compared by identity)."""

    def __init__(self, image, double size, double ready, owner, double last_used=0.0):
        self.image = image
        self.size = size
        self.ready = ready  # when the transfer that brings it ends
        self.owner = owner  # lease that asked for it
        self.last_used = last_used

    def __repr__(self):
        return f"Copy({self.image!r}, {self.size!r}, {self.ready!r}, {self.owner!r}, {self.last_used!r})"


@dataclass
class Transfer:
    """One planned transfer of an image over the repository link."""

    lease_id: str
    image: str
    start: float
    end: float
    hosts: tuple[int, ...]
    copies: list = field(default_factory=list)  # (host, Copy) pairs


cdef class ImageRepository:
    # attributes and C-level methods are declared in images.pxd:
    #   cache: host -> image -> copies there (kept with reuse only: without it a lease
    #          uses only its own copies, which are in ``mine``)
    #   users: host -> image -> lease ids that plan to use it there (reuse only: eviction)
    #   owned: (image, lease id) -> copies planned or held, on any host
    #   mine: (host, image, lease id) -> that lease's copies there: without reuse a host
    #         holds one copy per lease, hundreds when transfers queue up on the link
    #   holders: (image, lease id) -> hosts in ``mine``
    #   _copies_changed: (image, lease id) -> when its copies last changed

    def __init__(self, cfg, n_hosts, origin=0.0):
        self.cfg = cfg
        self.reuse = cfg.reuse
        self.multicast = cfg.transfer_mode is TransferMode.MULTICAST
        self.link = Timeline(ONE, origin)
        self.cache = [{} for _ in range(n_hosts)]
        self.users = [{} for _ in range(n_hosts)]
        self.owned = {}
        self.mine = {}
        self.holders = {}
        self._copies_changed = {}
        self._tick = 0
        self._hole_version = -1

    # ------------------------------------------------------------ questions
    cpdef object image_of(self, req):
        """The lease's (image id, size in MB), or None when it needs no image."""
        size = req.image.size_mb if req.image and req.image.size_mb > 0 else self.cfg.default_image_size
        if size <= 0:
            return None
        return (req.image.id if req.image else "default", size)

    def shortest_send(self, size):
        """Seconds the quickest send of an image of ``size`` MB takes (to one host)."""
        return size / self.cfg.bandwidth

    cpdef object seconds(self, size, hosts):
        """Seconds the link takes to send an image of ``size`` MB to ``hosts`` hosts."""
        if hosts == 0:
            return 0.0
        return self.seconds_c(size / self.cfg.bandwidth, hosts)

    cdef double seconds_c(self, double per, Py_ssize_t hosts) noexcept:
        """:meth:`seconds` for an image whose send to one host takes ``per`` (its
        ``shortest_send``): compression has that at hand."""
        if hosts == 0:
            return 0.0
        return per if self.multicast else per * <double>hosts

    cpdef bint has(self, host, image, double at, lease_id, double now) except -1:
        """Whether ``host`` will hold ``image`` at ``at`` for this lease."""
        cdef Copy c
        if not self.reuse:
            for c in self.mine.get((host, image, lease_id), ()):
                if c.ready <= at + _EPS:
                    return True
            return False
        for c in (<dict>self.cache[host]).get(image, ()):
            if c.owner == lease_id and c.ready <= at + _EPS:
                return True
            if c.ready <= now + _EPS:
                return True
        return False

    def may_have(self, req):
        """Whether some host could already hold the lease's image (else it must be sent)."""
        if self.image_of(req) is None or self.reuse:
            return True
        return self.copies_of(req) > 0

    def missing(self, req, hosts, at, now):
        img = self.image_of(req)
        if img is None:
            return ()
        image, lease_id = img[0], req.id
        cdef double dat = at, dnow = now
        return tuple(sorted([h for h in set(hosts) if not self.has(h, image, dat, lease_id, dnow)]))

    def earliest_ready(self, req, now):
        """A start by which the image can surely be on any hosts the lease gets."""
        img = self.image_of(req)
        if img is None:
            return now
        need = self.seconds(img[1], req.n_nodes)
        return self.link.first_hole(now, need) + need

    def copies_of(self, req):
        """How many copies of its image are planned or held for the lease, over all hosts."""
        img = self.image_of(req)
        return 0 if img is None else self.owned.get((img[0], req.id), 0)

    def could_send_before(self, req, sent_at, now):
        """Whether the lease's image could go out before ``sent_at`` (where a transfer
        it has planned begins, if any, counting as given up): the link is free right
        before it, or an earlier free stretch fits the shortest possible send."""
        img = self.image_of(req)
        if img is None:
            return True
        return self.could_send_before_c(now, self.shortest_send(img[1]), sent_at)

    def could_arrive_by(self, req, by, now, planned_at):
        """Whether a send of the lease's image could end by ``by`` (see :meth:`earliest_arrival`)."""
        return self.earliest_arrival(req, now, planned_at) <= by + EPS

    def earliest_arrival(self, req, now, planned_at):
        """The soonest a send of the lease's image could end, once the transfer it has
        ``planned_at`` that instant (if any) is given up: the shortest send, from the
        first free stretch of the link that fits it or from where the stretch freed
        by giving that transfer up begins, whichever is first."""
        img = self.image_of(req)
        if img is None:
            return now
        return self.arrival_c(now, self.shortest_send(img[1]), planned_at)

    cdef double first_short_hole_c(self, double now, double shortest) except? -1.0:
        """The link's first hole for the shortest send, remembered per version of the link
        (compression asks it for every candidate of a pass, the link unchanged between)."""
        if self._hole_version != self.link.version or self._hole_now != now or self._hole_length != shortest:
            self._hole_at = self.link.first_hole(now, shortest)
            self._hole_version = self.link.version
            self._hole_now = now
            self._hole_length = shortest
        return self._hole_at

    cdef double arrival_c(self, double now, double shortest, planned) except? -1.0:
        """:meth:`earliest_arrival` for an image whose shortest send takes ``shortest``."""
        cdef double first = self.first_short_hole_c(now, shortest), at
        cdef Timeline link = self.link
        cdef Py_ssize_t i
        if planned is not None:
            at = planned
            if at < first:
                i = left(link.s.t, 0, link.s.n, at) - 1
                while i >= 0 and link.s.f[i * link.nres] >= 1.0 - _EPS:
                    i -= 1
                first = link.s.t[i + 1] if i + 1 < link.s.n and link.s.t[i + 1] < at else at
                if now > first:
                    first = now
        return first + shortest

    def ready_without(self, now, need, tr):
        """:meth:`ready_without_c` from Python (tests)."""
        return self.ready_without_c(now, need, tr)

    cdef double ready_without_c(self, double now, double need, tr) except? -1.0:
        """:meth:`earliest_ready`'s answer (first hole for ``need`` seconds, plus ``need``) on
        the link as it would be with the transfer ``tr`` dropped, without dropping it:
        compression asks it before a re-plan it may rule out. Dropping adds 1 over
        [tr.start, tr.end); its merges only join equal segments, which the walk passes
        alike, so the same hole is found on the same doubles."""
        cdef Timeline link = self.link
        cdef const double *times = link.s.t
        cdef const double *free = link.s.f
        cdef Py_ssize_t n = link.s.n, nres = link.nres, i, piece
        cdef double s = _INF, e = _INF, a, b, t0, t1, f, start = 0.0
        cdef bint running = False
        if tr is not None and tr.end > tr.start:
            s, e = tr.start, tr.end
        i = right(times, 0, n, now) - 1
        if i < 0:
            i = 0
        while i < n:
            t0 = times[i]
            t1 = times[i + 1] if i + 1 < n else _INF
            for piece in range(3):  # the segment cut at s and e: before, inside, after
                if piece == 0:
                    a, b = t0, (s if s < t1 else t1)
                elif piece == 1:
                    a, b = (s if s > t0 else t0), (e if e < t1 else t1)
                else:
                    a, b = (e if e > t0 else t0), t1
                if not b > a:
                    continue
                f = free[i * nres] + 1.0 if piece == 1 else free[i * nres]
                if f >= 1.0 - _EPS:
                    if not running:
                        start = now if now > a else a
                        running = True
                    if b - start >= need - _EPS:
                        return start + need
                else:
                    running = False
            i += 1
        t0 = times[n - 1]
        return (now if now > t0 else t0) + need

    cdef bint could_send_before_c(self, double now, double shortest, double sent_at) except -1:
        """:meth:`could_send_before` for an image whose shortest send takes ``shortest``."""
        cdef Timeline link = self.link
        cdef Py_ssize_t i
        if sent_at <= now + _EPS:
            return False
        i = left(link.s.t, 0, link.s.n, sent_at) - 1
        if i < 0 or link.s.f[i * link.nres] >= 1.0 - _EPS:
            return True
        return self.first_short_hole_c(now, shortest) < sent_at - _EPS

    cdef bint holds_own_c(self, image, lease_id, tuple own, copies, double at) except -1:
        """Whether the lease's ``copies`` of ``image`` are as many as its own hosts and each
        of those holds one by ``at`` (:meth:`has` without reuse, on every host)."""
        cdef Copy c
        hosts = set(own)
        if copies != len(hosts):
            return False
        for h in hosts:
            for c in self.mine.get((h, image, lease_id), ()):
                if c.ready <= at + _EPS:
                    break
            else:
                return False
        return True

    def copy_hosts(self, req, besides=None):
        """Hosts holding (or about to) a copy of the lease's own image that ``besides``
        (a planned transfer, given up when the lease is re-planned) does not bring."""
        img = self.image_of(req)
        if img is None:
            return set()
        hosts = set(self.holders.get((img[0], req.id), ()))
        if besides is not None:
            for h, c in besides.copies:
                if self.mine.get((h, c.image, c.owner)) == [c]:
                    hosts.discard(h)
        return hosts

    def copies_version(self, req):
        """Changes whenever the lease's own copies do (callers cache per version)."""
        img = self.image_of(req)
        return self._copies_changed.get((img[0], req.id), 0) if img else 0

    def ready_on(self, req, host):
        """When the first of the lease's own copies of its image on ``host`` is there."""
        img = self.image_of(req)
        return min((c.ready for c in self.mine.get((host, img[0], req.id), ())), default=_INF) if img else _INF

    def plan(self, req, hosts, start, now, latest_hole):
        """The transfer that gets the image onto ``hosts`` by ``start``; a zero-length
        one when nothing is missing; None when it cannot be done in time."""
        img = self.image_of(req)
        missing = self.missing(req, hosts, start, now)
        if img is None or not missing:
            return Transfer(req.id, img[0] if img else "", start, start, ())
        need = self.seconds(img[1], len(missing))
        if latest_hole:
            t0 = self._last_hole(now, start, need)
        else:
            t0 = self.link.first_hole(now, need)
            if t0 + need > start + EPS:
                t0 = None
        if t0 is None:
            return None
        return Transfer(req.id, img[0], t0, t0 + need, missing)

    # ------------------------------------------------------------- changes
    def hold(self, tr, req):
        if tr.end <= tr.start:
            return
        self.link.reserve(tr.start, tr.end, ONE)
        self.link.coalesce(tr.start, tr.end)  # holes are then found past a busy stretch in one step
        img = self.image_of(req)
        assert img is not None
        for h in tr.hosts:
            c = Copy(img[0], img[1], tr.end, req.id, tr.end)
            self._add(h, c)
            tr.copies.append((h, c))
            if self.reuse:  # only a shared cache evicts
                self._evict(h, keep=img[0])

    def drop(self, tr):
        """Cancel a transfer that has not started."""
        cdef Copy c
        if tr.end <= tr.start:
            return
        self.link.release(tr.start, tr.end, ONE)
        for h, c in tr.copies:
            if c in self.mine.get((h, c.image, c.owner), ()):  # not evicted meanwhile
                self._remove(h, c)
        tr.copies.clear()

    def use(self, req, hosts, t):
        cdef Copy c
        if not self.reuse:
            return  # who uses an image only matters to eviction, which only a shared cache does
        img = self.image_of(req)
        if img is None:
            return
        for h in set(hosts):
            self.users[h].setdefault(img[0], set()).add(req.id)
            for c in self.cache[h].get(img[0], ()):
                c.last_used = max(c.last_used, t)

    def unuse(self, req, hosts):
        img = self.image_of(req)
        if img is None:
            return
        if self.reuse:
            for h in set(hosts):
                self.users[h].get(img[0], set()).discard(req.id)
            return
        # Without reuse a lease's copies go away with the lease: those on the hosts
        # it ran on, and those an earlier plan of it had sent elsewhere.
        for h in list(self.holders.get((img[0], req.id), ())):
            for c in list(self.mine[(h, img[0], req.id)]):
                self._remove(h, c)

    cpdef int _add(self, Py_ssize_t h, Copy c) except -1:
        if self.reuse:
            (<dict>self.cache[h]).setdefault(c.image, []).append(c)
        key = (h, c.image, c.owner)
        mine = self.mine.get(key)
        if mine is None:
            mine = self.mine[key] = []
            self.holders.setdefault((c.image, c.owner), set()).add(h)
        mine.append(c)
        self._own(c, 1)
        return 0

    cdef int _remove(self, Py_ssize_t h, Copy c) except -1:
        cdef dict cache
        if self.reuse:
            cache = self.cache[h]
            copies = cache[c.image]
            copies.remove(c)
            if not copies:
                del cache[c.image]
        key = (h, c.image, c.owner)
        mine = self.mine[key]
        mine.remove(c)
        if not mine:
            del self.mine[key]
            held = self.holders[(c.image, c.owner)]
            held.discard(h)
            if not held:
                del self.holders[(c.image, c.owner)]
        self._own(c, -1)
        return 0

    cdef int _own(self, Copy c, int delta) except -1:
        key = (c.image, c.owner)
        left = self.owned.get(key, 0) + delta
        if left > 0:
            self.owned[key] = left
            self._tick += 1  # one counter for all: a lease's version never repeats
            self._copies_changed[key] = self._tick
        else:
            self.owned.pop(key, None)
            self._copies_changed.pop(key, None)  # version 0: no copies
        return 0

    def _evict(self, h, keep):
        limit = self.cfg.cache_size
        if not self.reuse or limit <= 0:
            return
        held = {img: max(c.size for c in cs) for img, cs in self.cache[h].items() if cs}
        while sum(held.values()) > limit + EPS:
            idle = [img for img in held if img != keep and not self.users[h].get(img)]
            if not idle:
                return  # everything cached is needed by a planned lease
            victim = min(idle, key=lambda img: max(c.last_used for c in self.cache[h][img]))
            for c in list(self.cache[h][victim]):
                self._remove(h, c)
            del held[victim]

    # ---------------------------------------------------------------- holes
    def _last_hole(self, now, deadline, length):
        cdef Timeline tl = self.link
        cdef double lo = now + length, hi = deadline
        cdef Py_ssize_t k
        ends = [deadline]
        for k in range(tl.s.n):  # the link's breakpoints in [now + length, deadline)
            if lo <= tl.s.t[k] < hi:
                ends.append(tl.s.t[k])
        for end in sorted(set(ends), reverse=True):
            t0 = end - length
            if t0 >= now - EPS and tl.fits(t0, end, ONE):
                return max(t0, now)
        return None
