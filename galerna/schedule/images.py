"""Image preparation: disk images moved from one repository to the hosts.

The repository's link is a timeline of capacity 1: one transfer at a time.
Best-effort and deadline leases take the earliest hole (FIFO); advance
reservations take the latest hole that still ends before they boot (EDF),
leaving the near future to others. Unicast sends the image to each host in
turn; multicast sends it once to all. A lease's VMs sharing a host share one
copy. With ``reuse`` each host keeps images in a cache bounded in size,
evicting the least recently used image that no planned lease needs; an image
another lease brought is used once it has arrived.
"""
from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from math import inf

from galerna.config.schema import ImageTransferConfig, TransferMode
from galerna.model.lease import LeaseRequest
from galerna.schedule.timeline import EPS, Timeline

ONE = (1.0,)


@dataclass(slots=True, eq=False)  # a copy is itself: removing one from a list must not compare fields
class Copy:
    image: str
    size: float
    ready: float  # when the transfer that brings it ends
    owner: str  # lease that asked for it
    last_used: float = 0.0


@dataclass
class Transfer:
    """One planned transfer of an image over the repository link."""

    lease_id: str
    image: str
    start: float
    end: float
    hosts: tuple[int, ...]
    copies: list[tuple[int, Copy]] = field(default_factory=list)


class ImageRepository:
    def __init__(self, cfg: ImageTransferConfig, n_hosts: int, origin: float = 0.0):
        self.cfg = cfg
        self.link = Timeline(ONE, origin)
        self.cache: list[dict[str, list[Copy]]] = [{} for _ in range(n_hosts)]
        self.users: list[dict[str, set[str]]] = [{} for _ in range(n_hosts)]  # host -> image -> lease ids
        self.owned: dict[tuple[str, str], int] = {}  # (image, lease id) -> copies planned or held, on any host
        # (host, image, lease id) -> that lease's copies there: without reuse a host
        # holds one copy per lease, hundreds when transfers queue up on the link
        self.mine: dict[tuple[int, str, str], list[Copy]] = {}
        self.holders: dict[tuple[str, str], set[int]] = {}  # (image, lease id) -> hosts in ``mine``
        self._copies_changed: dict[tuple[str, str], int] = {}  # (image, lease id) -> when its copies last changed
        self._tick = 0
        self._hole_cache: dict[tuple[float, float], tuple[int, float]] = {}
        self.done: list[Transfer] = []  # transfers that started: they happen whatever the plan does later

    # ------------------------------------------------------------ questions
    def image_of(self, req: LeaseRequest) -> tuple[str, float] | None:
        size = req.image.size_mb if req.image and req.image.size_mb > 0 else self.cfg.default_image_size
        if size <= 0:
            return None
        return (req.image.id if req.image else "default", size)

    def seconds(self, size: float, hosts: int) -> float:
        if hosts == 0:
            return 0.0
        per = size / self.cfg.bandwidth
        return per if self.cfg.transfer_mode is TransferMode.MULTICAST else per * hosts

    def has(self, host: int, image: str, at: float, lease_id: str, now: float) -> bool:
        """Whether ``host`` will hold ``image`` at ``at`` for this lease."""
        if not self.cfg.reuse:
            return any(c.ready <= at + EPS for c in self.mine.get((host, image, lease_id), ()))
        for c in self.cache[host].get(image, ()):
            if c.owner == lease_id and c.ready <= at + EPS:
                return True
            if self.cfg.reuse and c.ready <= now + EPS:
                return True
        return False

    def may_have(self, req: LeaseRequest) -> bool:
        """Whether some host could already hold the lease's image (else it must be sent)."""
        if self.image_of(req) is None or self.cfg.reuse:
            return True
        return self.copies_of(req) > 0

    def missing(self, req: LeaseRequest, hosts: tuple[int, ...], at: float, now: float) -> tuple[int, ...]:
        img = self.image_of(req)
        if img is None:
            return ()
        return tuple(sorted(h for h in set(hosts) if not self.has(h, img[0], at, req.id, now)))

    def earliest_ready(self, req: LeaseRequest, now: float) -> float:
        """A start by which the image can surely be on any hosts the lease gets."""
        img = self.image_of(req)
        if img is None:
            return now
        need = self.seconds(img[1], req.n_nodes)
        return self._first_hole(now, need) + need

    def copies_of(self, req: LeaseRequest) -> int:
        """How many copies of its image are planned or held for the lease, over all hosts."""
        img = self.image_of(req)
        return 0 if img is None else self.owned.get((img[0], req.id), 0)

    def could_send_before(self, req: LeaseRequest, sent_at: float, now: float) -> bool:
        """Whether the lease's image could go out before ``sent_at`` (where a transfer
        it has planned begins, if any, counting as given up): the link is free right
        before it, or an earlier free stretch fits the shortest possible send."""
        img = self.image_of(req)
        if img is None:
            return True
        if sent_at <= now + EPS:
            return False
        times, free = self.link.times, self.link.free[0]
        i = bisect_left(times, sent_at) - 1
        if i < 0 or free[i] >= 1.0 - EPS:
            return True
        return self._first_short_hole(now, img[1] / self.cfg.bandwidth) < sent_at - EPS

    def could_arrive_by(self, req: LeaseRequest, by: float, now: float, planned_at: float | None) -> bool:
        """Whether a send of the lease's image could end by ``by`` (see :meth:`earliest_arrival`)."""
        return self.earliest_arrival(req, now, planned_at) <= by + EPS

    def earliest_arrival(self, req: LeaseRequest, now: float, planned_at: float | None) -> float:
        """The soonest a send of the lease's image could end, once the transfer it has
        ``planned_at`` that instant (if any) is given up: the shortest send, from the
        first free stretch of the link that fits it or from where the stretch freed
        by giving that transfer up begins, whichever is first."""
        img = self.image_of(req)
        if img is None:
            return now
        shortest = img[1] / self.cfg.bandwidth
        first = self._first_short_hole(now, shortest)
        if planned_at is not None and planned_at < first:
            times, free = self.link.times, self.link.free[0]
            i = bisect_left(times, planned_at) - 1
            while i >= 0 and free[i] >= 1.0 - EPS:
                i -= 1
            first = max(times[i + 1] if i + 1 < len(times) and times[i + 1] < planned_at else planned_at, now)
        return first + shortest

    def _first_short_hole(self, now: float, shortest: float) -> float:
        """:meth:`_first_hole` for the shortest send, cached per version of the link."""
        key = (now, shortest)
        got = self._hole_cache.get(key)
        if got is None or got[0] != self.link.version:
            got = self._hole_cache[key] = (self.link.version, self._first_hole(now, shortest))
        return got[1]

    def copy_hosts(self, req: LeaseRequest, besides: "Transfer | None" = None) -> set[int]:
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

    def copies_version(self, req: LeaseRequest) -> int:
        """Changes whenever the lease's own copies do (callers cache per version)."""
        img = self.image_of(req)
        return self._copies_changed.get((img[0], req.id), 0) if img else 0

    def ready_on(self, req: LeaseRequest, host: int) -> float:
        """When the first of the lease's own copies of its image on ``host`` is there."""
        img = self.image_of(req)
        return min((c.ready for c in self.mine.get((host, img[0], req.id), ())), default=inf) if img else inf

    def plan(self, req: LeaseRequest, hosts: tuple[int, ...], start: float, now: float, latest_hole: bool) -> Transfer | None:
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
            t0 = self._first_hole(now, need)
            if t0 + need > start + EPS:
                t0 = None
        if t0 is None:
            return None
        return Transfer(req.id, img[0], t0, t0 + need, missing)

    # ------------------------------------------------------------- changes
    def hold(self, tr: Transfer, req: LeaseRequest) -> None:
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
            self._evict(h, keep=img[0])

    def drop(self, tr: Transfer) -> None:
        """Cancel a transfer that has not started."""
        if tr.end <= tr.start:
            return
        self.link.release(tr.start, tr.end, ONE)
        for h, c in tr.copies:
            if c in self.mine.get((h, c.image, c.owner), ()):  # not evicted meanwhile
                self._remove(h, c)
        tr.copies.clear()

    def use(self, req: LeaseRequest, hosts: tuple[int, ...], t: float) -> None:
        img = self.image_of(req)
        if img is None:
            return
        for h in set(hosts):
            self.users[h].setdefault(img[0], set()).add(req.id)
            if self.cfg.reuse:  # recency only matters to eviction, which only a shared cache does
                for c in self.cache[h].get(img[0], ()):
                    c.last_used = max(c.last_used, t)

    def unuse(self, req: LeaseRequest, hosts: tuple[int, ...]) -> None:
        img = self.image_of(req)
        if img is None:
            return
        for h in set(hosts):
            self.users[h].get(img[0], set()).discard(req.id)
        if not self.cfg.reuse:
            # Without reuse a lease's copies go away with the lease: those on the hosts
            # it ran on, and those an earlier plan of it had sent elsewhere.
            for h in list(self.holders.get((img[0], req.id), ())):
                for c in list(self.mine[(h, img[0], req.id)]):
                    self._remove(h, c)

    def _add(self, h: int, c: Copy) -> None:
        self.cache[h].setdefault(c.image, []).append(c)
        key = (h, c.image, c.owner)
        mine = self.mine.get(key)
        if mine is None:
            mine = self.mine[key] = []
            self.holders.setdefault((c.image, c.owner), set()).add(h)
        mine.append(c)
        self._own(c, 1)

    def _remove(self, h: int, c: Copy) -> None:
        copies = self.cache[h][c.image]
        copies.remove(c)
        if not copies:
            del self.cache[h][c.image]
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

    def _own(self, c: Copy, delta: int) -> None:
        key = (c.image, c.owner)
        left = self.owned.get(key, 0) + delta
        if left > 0:
            self.owned[key] = left
            self._tick += 1  # one counter for all: a lease's version never repeats
            self._copies_changed[key] = self._tick
        else:
            self.owned.pop(key, None)
            self._copies_changed.pop(key, None)  # version 0: no copies

    def _evict(self, h: int, keep: str) -> None:
        limit = self.cfg.cache_size
        if not self.cfg.reuse or limit <= 0:
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
    def _first_hole(self, now: float, length: float) -> float:
        """Start of the first free stretch of the link at least ``length`` long, from ``now``."""
        return self.link.first_hole(now, length)  # compiled: timeline.pyx

    def _last_hole(self, now: float, deadline: float, length: float) -> float | None:
        tl = self.link
        ends = [deadline] + [x for x in tl.times if now + length <= x < deadline]
        for end in sorted(set(ends), reverse=True):
            t0 = end - length
            if t0 >= now - EPS and tl.fits(t0, end, ONE):
                return max(t0, now)
        return None
