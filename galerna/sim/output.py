"""Writes a simulation's output directory as ../shared/FORMATS.md describes.

Beyond the four files of the format: ``queue.csv`` (leases waiting over
time) and ``lost_work.csv`` (runs that cancel-and-requeue threw away; they
held their hosts but do not count toward the lease's run).
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

from galerna.model.state import LeaseState
from galerna.schedule.lease import Activity, Lease
from galerna.sim.engine import SimulationResult
from galerna.sim.metrics import bounded_slowdown

LEASE_COLUMNS = [
    "lease_id", "type", "submit", "start_requested", "deadline", "duration", "real_duration", "nodes",
    "cpu", "memory", "preemptible", "state", "start", "end", "wait", "bounded_slowdown", "suspensions", "hosts",
]
ALLOC_COLUMNS = ["lease_id", "node", "host", "start", "end", "activity", "cpu", "memory"]


def _num(x: float | None) -> str:
    if x is None:
        return ""
    return repr(round(x, 6)) if x != int(x) else str(int(x))


def _state(lease: Lease) -> str:
    return lease.state.value


def _write_transfer(w, lease: Lease, p, names: list[str]) -> None:
    """A transfer brings one copy per host: one row per host, on the first VM placed there."""
    placed = next((q.hosts for q in lease.history if q.holds), p.hosts)
    for h in p.hosts:
        node = placed.index(h) if h in placed else 0
        w.writerow([lease.id, node, names[h], _num(p.start), _num(p.end), p.activity.value, 0, 0])


def write_output(result: SimulationResult, summary: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    site = result.site
    names = [h.name for h in site.hosts]
    extra = list(site.resource_types[2:])
    with open(out / "hosts.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["host", "cpu", "memory", *extra])
        for i, h in enumerate(site.hosts):
            w.writerow([h.name, *(_num(x) for x in site.capacity(i))])
    with open(out / "leases.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(LEASE_COLUMNS)
        for L in result.leases:
            req = L.req
            start = L.first_run() if L.state is not LeaseState.REJECTED else None
            end = L.last_run_end() if start is not None else None
            real = result.real[L.id]
            ran = L.state is LeaseState.DONE
            hosts = []
            for p in L.history:
                if p.activity is Activity.RUN:
                    for h in p.hosts:
                        if names[h] not in hosts:
                            hosts.append(names[h])
            w.writerow([
                req.id, req.type.value, _num(req.submit), _num(req.start), _num(req.deadline),
                _num(result.planned[L.id]),
                _num(real), req.n_nodes, _num(L.vecs[0][0]), _num(L.vecs[0][1]),
                "true" if req.preemptible else "false", _state(L),
                _num(start), _num(end),
                _num(start - req.submit) if start is not None else "",
                _num(bounded_slowdown(req.submit, end, real)) if ran and end is not None else "",
                L.suspensions, ";".join(hosts),
            ])
    with open(out / "allocations.csv", "w", newline="") as fa, open(out / "lost_work.csv", "w", newline="") as fl:
        wa, wl = csv.writer(fa), csv.writer(fl)
        wa.writerow(ALLOC_COLUMNS)
        wl.writerow(ALLOC_COLUMNS)
        for L in result.leases:
            for w, phases in ((wa, L.history), (wl, L.lost)):
                for p in phases:
                    if p.end - p.start <= 0:
                        continue
                    if p.activity is Activity.TRANSFER:
                        _write_transfer(w, L, p, names)
                        continue
                    for node, h in enumerate(p.hosts):
                        v = L.vecs[node]
                        held = p.holds
                        w.writerow([L.id, node, names[h], _num(p.start), _num(p.end), p.activity.value,
                                    _num(v[0] if held else 0.0), _num(v[1] if held else 0.0)])
    with open(out / "queue.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["time", "queued"])
        for t, q in result.queue:
            w.writerow([_num(t), q])
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
