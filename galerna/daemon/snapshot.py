"""Between the pure core and the database: lease snapshots, core rebuild, AR updates.

The scheduling core keeps its bookkeeping in memory. After every batch the
daemon writes each lease the batch touched as a *snapshot* (state, planned
phases, history, remaining run time, hosts, hosts to avoid) in the same transaction as the
requests and events. A restart (or a change of the host set) rebuilds the core
from the snapshots of all non-final leases **at their persisted plan**: every
lease keeps its state, hosts and reservations exactly; queued leases go back
to the queue in submit order; then the core is advanced to now, which carries
out what came due while the daemon was down. Nothing is re-planned from
scratch, so running leases keep their hosts and ARs their slots.

Helpers here reach into the core's internals (``_adopt``, ``_release``…); the
core itself stays unaware of persistence.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from galerna.config.schema import Config
from galerna.model.lease import DiskImage, LeaseRequest, LeaseType
from galerna.model.site import Site
from galerna.model.state import LeaseState as S
from galerna.schedule.lease import Activity, Lease, Phase
from galerna.schedule.scheduler import LeaseScheduler
from galerna.schedule.timeline import EPS

A = Activity


# ----------------------------------------------------------------- requests
def request_to_json(req: LeaseRequest, epoch: float) -> dict[str, Any]:
    """A request with absolute (Unix) times."""
    return {
        "type": req.type.value,
        "submit": req.submit + epoch,
        "duration": req.duration,
        "nodes": [dict(n) for n in req.nodes],
        "start": None if req.start is None else req.start + epoch,
        "deadline": None if req.deadline is None else req.deadline + epoch,
        "preemptible": req.preemptible,
        "image": None if req.image is None else {"id": req.image.id, "size_mb": req.image.size_mb},
        "tenant": req.tenant,
        "extra": dict(req.extra),
    }


def request_from_json(lease_id: str, d: Mapping[str, Any], epoch: float) -> LeaseRequest:
    img = d.get("image")
    return LeaseRequest(
        id=lease_id,
        type=LeaseType(d["type"]),
        submit=d["submit"] - epoch,
        duration=d["duration"],
        nodes=tuple(dict(n) for n in d["nodes"]),
        start=None if d.get("start") is None else d["start"] - epoch,
        deadline=None if d.get("deadline") is None else d["deadline"] - epoch,
        preemptible=d.get("preemptible", True),
        image=DiskImage(img["id"], img["size_mb"]) if img else None,
        tenant=d.get("tenant"),
        extra=d.get("extra") or {},
    )


# ----------------------------------------------------------------- snapshots
def _phase_out(p: Phase, names: list[str], epoch: float) -> dict[str, Any]:
    return {
        "activity": p.activity.value,
        "start": p.start + epoch,
        "end": p.end + epoch,
        "hosts": [names[h] for h in p.hosts],
        "holds": p.holds,
        "started": p.started,
        "lost": p.lost,
    }


def _phase_in(d: Mapping[str, Any], index: Mapping[str, int], epoch: float) -> Phase:
    return Phase(A(d["activity"]), d["start"] - epoch, d["end"] - epoch, tuple(index[h] for h in d["hosts"]),
                 holds=d.get("holds", True), started=d.get("started", False), lost=d.get("lost", False))


# A history phase that names a host removed since (the lease left it, then an admin removed it) cannot be given
# back to the core: it has no host index there. At a rebuild it is set aside as (position in the persisted history,
# phase as persisted, core times) -- see ``restore`` -- and put back at its place when the history is written again.
# The core only appends to ``lease.history``, so those positions stay right.
Gone = list[tuple[int, dict[str, Any]]]


def full_history(lease: Lease, gone: Gone = ()) -> list[Phase | dict[str, Any]]:
    """The lease's history with the phases set aside at the last rebuild back at their places (those as dicts)."""
    out: list[Phase | dict[str, Any]] = list(lease.history)
    for pos, d in gone:
        out.insert(pos, d)
    return out


def snapshot(lease: Lease, names: list[str], epoch: float, gone: Gone = ()) -> dict[str, Any]:
    return {
        "phases": [_phase_out(p, names, epoch) for p in lease.phases],
        "history": [_phase_out(p, names, epoch) if isinstance(p, Phase)
                    else dict(p, start=p["start"] + epoch, end=p["end"] + epoch) for p in full_history(lease, gone)],
        "remaining": lease.remaining,
        "hosts": None if lease.hosts is None else [names[h] for h in lease.hosts],
        "suspensions": lease.suspensions,
        "booted": lease.booted,
        # hosts the lease must not be placed on again (a hypervisor failed it there), by name
        "avoid": sorted(names[h] for h in lease.avoid),
    }


def planned_window(lease: Lease, epoch: float, gone: Gone = ()) -> tuple[float | None, float | None]:
    """(start, end) of the lease's run as planned or done, in Unix time."""
    done = [(p.start, p.end) if isinstance(p, Phase) else (p["start"], p["end"]) for p in full_history(lease, gone)
            if (p.activity if isinstance(p, Phase) else A(p["activity"])) is A.RUN]
    runs = done + [(p.start, p.end) for p in lease.phases if p.activity is A.RUN]
    if not runs:
        return None, None
    return runs[0][0] + epoch, runs[-1][1] + epoch


def restore(site: Site, config: Config, now: float, leases: Iterable[tuple[LeaseRequest, str, str, dict]],
            disabled: Iterable[int] = (), gone: dict[str, Gone] | None = None) -> LeaseScheduler:
    """A core holding ``leases`` — (request, state, reason, snapshot) in submit order, core times.

    History phases on hosts the site no longer has are left out of the core (nothing in it reads where a past
    phase ran) and, when ``gone`` is given, put there by lease id, so that the caller can write them back.
    """
    index = {h.name: i for i, h in enumerate(site.hosts)}
    items = list(leases)
    epoch = 0.0  # snapshots handed in are already shifted to core time by the caller
    starts = [p["start"] for _, _, _, snap in items for p in snap.get("phases", [])]
    core = LeaseScheduler(site, config, now=min([now] + starts))
    for i, off in enumerate(disabled):
        core.slots.enabled[off] = False
    for seq, (req, state, reason, snap) in enumerate(items):
        lease = Lease(req=req, vecs=tuple(site.vector(n) for n in req.nodes), seq=seq)
        lease.state = S(state)
        lease.reason = reason
        lease.remaining = snap.get("remaining", core.timing.run_time(req.duration))
        lease.hosts = None if snap.get("hosts") is None else tuple(index[h] for h in snap["hosts"])
        lease.suspensions = snap.get("suspensions", 0)
        lease.booted = snap.get("booted", False)
        # a removed host cannot be placed on anyway: its name is simply dropped
        lease.avoid = frozenset(index[h] for h in snap.get("avoid", ()) if h in index)
        lease.history = []
        for pos, p in enumerate(snap.get("history", [])):
            if all(h in index for h in p["hosts"]):
                lease.history.append(_phase_in(p, index, epoch))
            elif gone is not None:  # it ran on a host removed since: kept for the record only
                gone.setdefault(req.id, []).append((pos, dict(p)))
        phases = [_phase_in(p, index, epoch) for p in snap.get("phases", [])]
        core.leases[req.id] = lease
        core._by_seq[seq] = lease
        core.live.add(lease)
        if lease.state is S.PENDING:
            lease.state = S.QUEUED if req.type is LeaseType.BE else lease.state
        unstarted_off = phases and not phases[0].started and any(not core.slots.enabled[h] for p in phases for h in p.hosts)
        if lease.state in (S.QUEUED, S.SUSPENDED_QUEUED) or not phases or (
                unstarted_off and req.type in (LeaseType.BE, LeaseType.DEADLINE)):
            if phases and lease.state in (S.SCHEDULED, S.SUSPENDED_SCHEDULED):
                lease.state = S.SUSPENDED_QUEUED if lease.state is S.SUSPENDED_SCHEDULED else S.QUEUED
            if lease.state not in (S.QUEUED, S.SUSPENDED_QUEUED):
                continue  # nothing planned and not waiting: left as it is (should not happen)
            core.queue.add(lease)
            continue
        core._adopt(lease, phases)
        if (lease.state in (S.SCHEDULED, S.SUSPENDED_SCHEDULED) and req.type in (LeaseType.BE, LeaseType.DEADLINE)
                and not phases[0].started):
            core.reserved.add(lease)
    core._changed = True
    return core


def shift(snap: dict, by: float) -> dict:
    """A snapshot with every time moved by ``by`` seconds (Unix -> core time: ``-epoch``)."""
    out = dict(snap)
    for key in ("phases", "history"):
        out[key] = [dict(p, start=p["start"] + by, end=p["end"] + by) for p in snap.get(key, [])]
    return out


# ----------------------------------------------------------------- AR updates
class UpdateRefused(ValueError):
    pass


def change_end(core: LeaseScheduler, lease_id: str, new_end: float, now: float) -> list:
    """Move the planned end of an AR's run to ``new_end`` (core time), as OpenStack Blazar allows.

    Shortening gives capacity back (and compresses waiting reservations);
    extending must fit on the same hosts without preempting anyone. Ending at
    or before ``now`` ends a running lease now and cancels one that has not
    started.
    """
    core.advance(now)
    lease = core.leases[lease_id]
    if lease.type is not LeaseType.AR:
        raise UpdateRefused("only advance reservations can be extended or shortened")
    if lease.state.final:
        raise UpdateRefused(f"lease is already {lease.state.value}")
    runs = [p for p in lease.phases if p.activity is A.RUN]
    if not runs:
        raise UpdateRefused(f"lease has no run ahead (state {lease.state.value})")
    run = runs[-1]
    started = run.started
    if new_end <= now + EPS:
        if started:
            return core.vms_finished(lease_id, now)
        return core.cancel(lease_id, now, "ended by its owner before it started")
    if new_end <= run.start + EPS:
        raise UpdateRefused("the new end is not after the lease's start")
    delta = new_end - run.end
    if abs(delta) <= EPS:
        return []
    i = lease.phases.index(run)
    tail = lease.phases[i + 1:]
    shutdown = sum(p.end - p.start for p in tail)
    core._release(lease, max(now, lease.phases[0].start) if lease.phases[0].started else lease.phases[0].start)
    if delta > 0:
        ok = core.mapper.map_fixed(lease.vecs, run.hosts, run.end, new_end + shutdown)
        if not ok:
            core._hold(lease, [p if not p.started else Phase(p.activity, max(now, p.start), p.end, p.hosts, p.holds)
                               for p in lease.phases])
            raise UpdateRefused(f"no capacity to extend to the new end on hosts {list(run.hosts)}")
    run.end = new_end
    lease.remaining += delta
    for p in tail:
        length = p.end - p.start
        p.start = new_end
        p.end = new_end + length
        new_end += length
    held = [p if not p.started else Phase(p.activity, max(now, p.start), p.end, p.hosts, p.holds) for p in lease.phases]
    core._hold(lease, held)
    lease.version += 1
    core._push(lease)
    if delta < 0:
        core._spans.append((run.hosts[0], run.end, run.end - delta))
        for h in run.hosts:
            core._spans.append((h, run.end, run.end - delta))
        core._freed = True
    return core.advance(now)


# ----------------------------------------------------------------- enactment failures
def requeue(core: LeaseScheduler, lease_id: str, now: float, avoid: Iterable[int] = (), reason: str = "") -> list | None:
    """Send a lease whose VMs could not be started back through the core's queue.

    The core's own operation does the work (a booting or running lease loses
    that run; a resuming one goes back suspended, keeping its progress), and
    the hosts in ``avoid`` are never given to this lease again. None when the
    lease is in no phase that can be requeued (the caller then fails it).
    """
    events = core.advance(now)
    more = core.requeue(lease_id, now, reason, tuple(avoid))
    return None if more is None else events + more
