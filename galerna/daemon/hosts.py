"""The daemon's hosts: their order in the core, hypervisor URIs and drivers, health, and adding/removing them live.

The database is the truth: at start-up (and after every host change) the core is rebuilt from the ``hosts`` rows,
and the registry's name/URI maps with it. Enactment's parts (executor, monitor, recovery) are told of a host added
or removed through their ``attach``/``detach`` methods, only once the change is committed.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from sqlalchemy import func, select

from galerna.enact.driver import HostState
from galerna.enact.executor import ActionResult, Executor
from galerna.model.site import Host, Site
from galerna.store.db import Store
from galerna.store.models import HostRow

from galerna.daemon.errors import ErrorKind, Refused
from galerna.daemon.host_uris import check_test_uri, unreachable
from galerna.daemon.settings import Settings

log = logging.getLogger("galerna.daemon")

_ADMIN_STATE = {"enable": "up", "disable": "disabled", "maintenance": "maintenance"}


def placeable(admin_state: str, health: str) -> bool:
    """New placements go only to hosts an admin left up and whose hypervisor answers (health ``error``: the host
    monitor lost it)."""
    return admin_state == "up" and health != "error"


class HostRegistry:
    def __init__(self, store: Store, settings: Settings, clock: Callable[[], float], drivers: dict | None = None):
        self.store, self.settings, self.clock = store, settings, clock
        self.names: list[str] = []  # host names in the core's order (its host indices)
        self._index: dict[str, int] = {}
        self.uri_of: dict[str, str] = {}  # host name -> URI
        self.name_of_uri: dict[str, str] = {}
        self._drivers = drivers  # URI -> driver, kept across removals (a re-add reuses the connection)
        self.executor: Executor | None = None
        self.monitor = None
        self.recovery = None

    # ------------------------------------------------------------ order
    def index(self, name: str) -> int | None:
        """The core's index of host ``name`` (None: not in the core, e.g. added since the last rebuild)."""
        return self._index.get(name)

    def site(self, s) -> tuple[Site, list[int]]:
        """The site from the ``hosts`` rows, and the indices of the hosts that take no new placement. The registry's
        order becomes the core's."""
        rows = list(s.scalars(select(HostRow).order_by(HostRow.position, HostRow.name)))
        hosts = [Host(r.name, {"cpu": r.cpu, "memory": r.memory, **(r.extra or {})}) for r in rows]
        self.names = [r.name for r in rows]
        self._index = {n: i for i, n in enumerate(self.names)}
        return Site(hosts), [i for i, r in enumerate(rows) if not placeable(r.admin_state, r.health)]

    def set_placeable(self, core, name: str, admin_state: str, health: str, t: float) -> bool:
        """Let the core place new leases on host ``name`` or not. Leases already planned or running there keep their
        place. True when the host just became placeable again: the caller makes the core run a queue round
        (``core.advance``) so that waiting leases can use it."""
        i = self.index(name)
        return False if i is None else core.set_host_enabled(i, placeable(admin_state, health), t)

    def name(self, uri: str | None) -> str | None:
        """The host name of a URI (the URI itself for one Galerna does not know)."""
        return self.name_of_uri.get(uri, uri) if uri else uri

    # ------------------------------------------------------------ drivers
    def setup(self, on_result: Callable[[ActionResult], None]) -> None:
        """The ``hosts`` rows seeded on a first start; with enactment, a driver per host and the executor."""
        with self.store.session.begin() as s:
            if s.scalar(select(func.count()).select_from(HostRow)) == 0:
                now = self.clock()
                for i, (name, uri, cpu, mem) in enumerate(self._seed()):
                    s.add(HostRow(name=name, uri=uri, cpu=cpu, memory=mem, extra={}, admin_state="up", health="up",
                                  position=i, created=now))
        if self.settings.daemon.enact:
            self._open(on_result)

    def _seed(self) -> list[tuple[str, str | None, float, float]]:
        st = self.settings
        if not st.daemon.enact:
            c = st.config.site
            w = len(str(c.nodes))
            return [(f"host{i + 1:0{w}d}", None, c.cpu, c.memory) for i in range(c.nodes)]
        out = []
        for h, uri in self._configured():
            info = self.driver(uri).host_info()
            out.append((h, uri, float(info.cpus), float(info.memory_mb)))
        return out

    def _configured(self) -> list[tuple[str, str]]:
        from galerna.enact.config import default_test_hosts

        en = self.settings.enactment
        if en.hosts:
            return [(h.name or h.uri, h.uri) for h in en.hosts]
        uris = default_test_hosts(self.settings.daemon.test_hosts, self.data_dir())
        return [(f"test{i + 1}", u) for i, u in enumerate(uris)]

    def data_dir(self) -> str:
        from galerna.store.db import data_dir

        return self.settings.daemon.data_dir or self.settings.enactment.data_dir or str(data_dir())

    def test_uri_dir(self) -> str:
        """Where test:/// hosts added at run time may live (``[daemon] test_uri_dir``)."""
        return self.settings.daemon.test_uri_dir or str(Path(self.data_dir()) / "test-hosts")

    def provide(self, uri: str, driver) -> None:
        """A driver for a URI the registry cannot open itself (an OpenNebula host found while the daemon runs); the
        next ``add`` of that URI uses it."""
        if self._drivers is None:
            self._drivers = {}
        self._drivers.setdefault(uri, driver)

    def driver(self, uri: str):
        """The driver of the hypervisor at ``uri`` (one per URI, made on first use)."""
        from galerna.enact.libvirt import LibvirtDriver

        if self._drivers is None:
            self._drivers = {}
        if uri not in self._drivers:
            safe = "".join(c if c.isalnum() else "_" for c in uri)[-60:]
            self._drivers[uri] = LibvirtDriver(uri, str(Path(self.data_dir()) / "state" / safe),
                                               prefix=self.settings.enactment.vm_prefix)
        return self._drivers[uri]

    def _open(self, on_result: Callable[[ActionResult], None]) -> None:
        with self.store.session() as s:
            rows = list(s.scalars(select(HostRow)))
        drivers = {}
        self.uri_of, self.name_of_uri = {}, {}  # the database is the truth: nothing is left from before
        for r in rows:
            if r.uri:
                drivers[r.uri] = self.driver(r.uri)
                self.uri_of[r.name] = r.uri
                self.name_of_uri[r.uri] = r.name
        self.executor = Executor(drivers, config=self.settings.enactment, on_result=on_result)

    # ------------------------------------------------------------ health
    def start_monitor(self, on_health: Callable[[str, bool], None], on_recovery: Callable,
                      deployment: str | None = None) -> None:
        """The periodic host monitor (lifecycle events + a poll every ``recovery.reconcile_interval``) and recovery.
        ``on_health(uri, up)`` when a host stops or starts answering."""
        if self.executor is None:
            return
        from galerna.enact.monitor import Monitor
        from galerna.enact.recovery import RecoveryManager

        rc = self.settings.enactment.recovery
        ex = self.executor
        self.recovery = RecoveryManager(ex.drivers, ex.inventory, ex, rc, on_event=on_recovery, deployment=deployment)
        self.monitor = Monitor(ex.drivers, ex.inventory, interval=rc.reconcile_interval,
                               poll_timeout=min(10.0, max(1.0, rc.reconcile_interval)),
                               after_poll=lambda: self.recovery.tick(self.monitor.seen))
        self.monitor.on_host_change(self.recovery.host_changed)
        self.monitor.on_host_change(lambda uri, old, new: on_health(uri, new is HostState.UP))
        self.monitor.start()

    def record_health(self, uri: str, up: bool) -> tuple[str, str] | None:
        """The host at ``uri`` answers (``up``) or not: its row's health. (name, admin state) when it changed."""
        name = self.name_of_uri.get(uri)
        if name is None:
            return None
        health = "up" if up else "error"
        with self.store.session.begin() as s:
            row = s.get(HostRow, name)
            if row is None or row.health == health:
                return None
            row.health = health
            return name, row.admin_state

    def health_after_reconcile(self, core, t: float) -> tuple[list[str], bool]:
        """Health rows from what the hypervisors answered at start-up: the names of hosts in error, and whether a
        host in error at the last stop answers again (waiting leases may use it)."""
        woke, down = False, []
        with self.store.session.begin() as s:
            for uri, hs in self.executor.inventory.host_states().items():
                name = self.name_of_uri.get(uri)
                row = s.get(HostRow, name) if name else None
                if row is not None:
                    row.health = "up" if hs is HostState.UP else "error"
                    woke |= self.set_placeable(core, name, row.admin_state, row.health, t)
                    if row.health == "error":
                        down.append(name)
        return down, woke

    def stop(self) -> None:
        if self.monitor is not None:
            self.monitor.stop()
        if self.executor is not None:
            self.executor.close(wait=False)

    # ------------------------------------------------------------ changes
    def change(self, core, action: str, name: str, uri: str | None = None, cpu: float | None = None,
               memory: float | None = None, extra: dict | None = None) -> tuple[dict, str | None]:
        """Add, remove, enable, disable or put a host in maintenance, in the database. Returns the answer and the
        URI of a removed host. The caller rebuilds the core afterwards."""
        attach = detach = None  # the hypervisor to watch, the URI to forget: only once the change is committed
        with self.store.session.begin() as s:
            row = s.get(HostRow, name)
            if action == "add":
                if row is not None:
                    raise Refused(f"host {name} already exists")
                if uri and self.executor is not None:
                    attach = self._reach(uri)
                    info = attach.host_info()
                    cpu = float(info.cpus) if cpu is None else cpu
                    memory = float(info.memory_mb) if memory is None else memory
                if cpu is None or memory is None:
                    raise Refused("cpu and memory are needed for a host without a hypervisor URI", ErrorKind.INVALID,
                                  field="cpu")
                pos = (s.scalar(select(func.max(HostRow.position))) or 0) + 1
                s.add(HostRow(name=name, uri=uri, cpu=cpu, memory=memory, extra=extra or {}, admin_state="up",
                              health="up", position=pos, created=self.clock()))
                out = {"name": name}
            elif row is None:
                raise Refused(f"no host {name}", ErrorKind.NOT_FOUND)
            elif action == "remove":
                i = self.index(name)
                users = sorted(L.id for L in core.live if (L.hosts and i in L.hosts) or any(i in p.hosts for p in L.phases))
                if users:
                    raise Refused(f"host {name} is used by lease(s) {', '.join(users[:10])}; disable it first")
                if len(self.names) == 1:
                    raise Refused("the last host cannot be removed")
                s.delete(row)
                detach = row.uri
                out = {"name": name, "removed": True}
            else:
                row.admin_state = _ADMIN_STATE[action]
                out = {"name": row.name}
        if attach is not None:
            self.attach(name, uri, attach)
        if detach:
            self.detach(name, detach)
        return out, detach

    def _reach(self, uri: str):
        """The driver of a new host's hypervisor, which must answer now."""
        if uri in self.name_of_uri:
            raise Refused(f"URI {uri} is already host {self.name_of_uri[uri]}")
        check_test_uri(uri, self.test_uri_dir())
        try:
            d = self.driver(uri)
            d.host_info()
        except Exception as e:  # noqa: BLE001 - any failure: the URI is not usable
            if self._drivers is not None:
                self._drivers.pop(uri, None)
            raise unreachable(uri, e) from None
        return d

    def _parts(self) -> list:
        return [p for p in (self.executor, self.monitor, self.recovery) if p is not None]

    def attach(self, name: str, uri: str, d) -> None:
        """A host added while the daemon runs gets what start-up sets up for every host, so that the running daemon
        and one restarted from the database agree."""
        self.uri_of[name], self.name_of_uri[uri] = uri, name
        for part in self._parts():
            part.attach(uri, d)

    def detach(self, name: str, uri: str) -> None:
        """A removed host: everything kept about it by name or URI goes, so that the URI can be added again (under
        this name or another) and nothing polls, recovers or acts on it meanwhile. Its driver stays in the cache (a
        re-add reuses it), with its connection closed."""
        self.uri_of.pop(name, None)
        if self.name_of_uri.get(uri) == name:
            del self.name_of_uri[uri]
        if self.executor is None:
            return
        d = self.executor.drivers.get(uri)
        left = self.executor.detach(uri)  # no lease uses the host: at most copies given up on when it stopped answering
        if left:
            log.warning("host %s removed; Galerna no longer manages its VMs %s", name, sorted(r.name for r in left))
        for part in (self.monitor, self.recovery):
            if part is not None:
                part.detach(uri)
        if d is not None:
            try:
                d.close()  # no keepalive or close event from a host Galerna no longer has
            except Exception:  # noqa: BLE001
                log.warning("closing the connection to %s failed", uri, exc_info=True)
