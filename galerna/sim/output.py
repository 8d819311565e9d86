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


class _Numbers(dict):
    """``_num`` of every value met, each worked out once: an allocation row repeats its phase's start and end on
    every node and the lease's amounts on every row (150,000 rows in a study run). Equal numbers format alike
    (1 and 1.0 both as "1"), so they may share an entry."""

    def __missing__(self, x: float | None) -> str:
        s = self[x] = _num(x)
        return s


def _transfer_rows(lease: Lease, p, names: list[str], num: _Numbers):
    """A transfer brings one copy per host: one row per host, on the first VM placed there."""
    placed = next((q.hosts for q in lease.history if q.holds), p.hosts)
    for h in p.hosts:
        node = placed.index(h) if h in placed else 0
        yield [lease.id, node, names[h], num[p.start], num[p.end], p.activity.value, 0, 0]


def _allocation_rows(lease: Lease, phases, names: list[str], num: _Numbers):
    """The rows of ``phases`` (a lease's history or lost work): one per VM and phase, amounts only where it holds."""
    lid = lease.id
    amounts = [(num[v[0]], num[v[1]]) for v in lease.vecs]
    for p in phases:
        if p.end - p.start <= 0:
            continue
        if p.activity is Activity.TRANSFER:
            yield from _transfer_rows(lease, p, names, num)
            continue
        start, end, activity = num[p.start], num[p.end], p.activity.value
        if p.holds:
            for node, h in enumerate(p.hosts):
                cpu, memory = amounts[node]
                yield [lid, node, names[h], start, end, activity, cpu, memory]
        else:
            for node, h in enumerate(p.hosts):
                yield [lid, node, names[h], start, end, activity, "0", "0"]


def _lease_row(L: Lease, result: SimulationResult, names: list[str], num: _Numbers) -> list:
    req = L.req
    start = L.first_run() if L.state is not LeaseState.REJECTED else None
    end = L.last_run_end() if start is not None else None
    real = result.real[L.id]
    ran = L.state is LeaseState.DONE
    hosts = dict.fromkeys(names[h] for p in L.history if p.activity is Activity.RUN for h in p.hosts)
    return [
        req.id, req.type.value, num[req.submit], num[req.start], num[req.deadline],
        num[result.planned[L.id]],
        num[real], req.n_nodes, num[L.vecs[0][0]], num[L.vecs[0][1]],
        "true" if req.preemptible else "false", L.state.value,
        num[start], num[end],
        num[start - req.submit] if start is not None else "",
        _num(bounded_slowdown(req.submit, end, real)) if ran and end is not None else "",
        L.suspensions, ";".join(hosts),
    ]


def write_output(result: SimulationResult, summary: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    site = result.site
    names = [h.name for h in site.hosts]
    extra = list(site.resource_types[2:])
    num = _Numbers()
    with open(out / "hosts.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["host", "cpu", "memory", *extra])
        for i, h in enumerate(site.hosts):
            w.writerow([h.name, *(num[x] for x in site.capacity(i))])
    with open(out / "leases.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(LEASE_COLUMNS)
        w.writerows(_lease_row(L, result, names, num) for L in result.leases)
    for name, phases_of in (("allocations.csv", lambda L: L.history), ("lost_work.csv", lambda L: L.lost)):
        with open(out / name, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(ALLOC_COLUMNS)
            for L in result.leases:
                w.writerows(_allocation_rows(L, phases_of(L), names, num))
    with open(out / "queue.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["time", "queued"])
        w.writerows([num[t], q] for t, q in result.queue)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
