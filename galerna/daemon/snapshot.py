"""Between the pure core and the database: a codec of requests and lease snapshots, and the core rebuild.

The scheduling core keeps its bookkeeping in memory. After every batch the
daemon writes each lease the batch touched as a *snapshot* (state, planned
phases, history, remaining run time, hosts, hosts to avoid) in the same transaction as the
requests and events. A restart (or a change of the host set) rebuilds the core
from the snapshots of all non-final leases **at their persisted plan**: every
lease keeps its state, hosts and reservations exactly; queued leases go back
to the queue in submit order; then the core is advanced to now, which carries
out what came due while the daemon was down. Nothing is re-planned from
scratch, so running leases keep their hosts and ARs their slots.

Only the core's public operations are used (``restore_lease``, ``set_host_enabled``);
the core itself stays unaware of persistence.
"""
from __future__ import annotations

import logging
from typing import Any, Iterable, Mapping

from galerna.config.schema import Config
from galerna.model.lease import DiskImage, LeaseRequest, LeaseType
from galerna.model.site import Site
from galerna.model.state import LeaseState as S
from galerna.schedule.lease import Activity, Lease, Phase
from galerna.schedule.plan import ChangeRefused
from galerna.schedule.scheduler import LeaseScheduler

log = logging.getLogger("galerna.daemon")

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


def readable(rows: Iterable[tuple], epoch: float) -> list[tuple[LeaseRequest, str, str, dict]]:
    """(request, state, reason, snapshot in core time) of each (seq, request, state, reason, core) row that can be
    read back. A row that cannot (written by hand or by an older version, with values no inlet admits now) is left
    out of the core, with one log line, rather than keeping the daemon from starting; its row stays as it is."""
    out = []
    for seq, req, state, reason, core in rows:
        try:
            out.append((request_from_json(str(seq), req, epoch), S(state).value, reason, shift(core or {}, -epoch)))
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            log.warning("lease %s: its stored record cannot be restored (%s); it is left out of the schedule", seq,
                        type(e).__name__)
    return out


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
    starts = [p["start"] for _, _, _, snap in items for p in snap.get("phases", [])]
    core = LeaseScheduler(site, config, now=min([now] + starts))
    for off in disabled:
        core.set_host_enabled(off, False, now)
    for req, state, reason, snap in items:
        try:
            _restore_one(core, index, req, state, reason, snap, gone)
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as e:
            log.warning("lease %s: its stored plan cannot be restored (%s); it is left out of the schedule", req.id,
                        type(e).__name__)
    return core


def _restore_one(core: LeaseScheduler, index: Mapping[str, int], req: LeaseRequest, state: str, reason: str,
                 snap: dict, gone: dict[str, Gone] | None) -> None:
    epoch = 0.0  # snapshots handed in are already shifted to core time by the caller
    history = []
    for pos, p in enumerate(snap.get("history", [])):
        if all(h in index for h in p["hosts"]):
            history.append(_phase_in(p, index, epoch))
        elif gone is not None:  # it ran on a host removed since: kept for the record only
            gone.setdefault(req.id, []).append((pos, dict(p)))
    core.restore_lease(
        req, S(state), [_phase_in(p, index, epoch) for p in snap.get("phases", [])], note=reason,
        remaining=snap.get("remaining"),
        hosts=None if snap.get("hosts") is None else tuple(index[h] for h in snap["hosts"]),
        suspensions=snap.get("suspensions", 0), booted=snap.get("booted", False),
        # a removed host cannot be placed on anyway: its name is simply dropped
        avoid=frozenset(index[h] for h in snap.get("avoid", ()) if h in index), history=history)


def shift(snap: dict, by: float) -> dict:
    """A snapshot with every time moved by ``by`` seconds (Unix -> core time: ``-epoch``)."""
    out = dict(snap)
    for key in ("phases", "history"):
        out[key] = [dict(p, start=p["start"] + by, end=p["end"] + by) for p in snap.get(key, [])]
    return out
