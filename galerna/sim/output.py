"""Writes a simulation's output directory as ../shared/FORMATS.md describes.

Beyond the four files of the format: ``queue.csv`` (leases waiting over
time) and ``lost_work.csv`` (runs that cancel-and-requeue threw away; they
held their hosts but do not count toward the lease's run).
"""
from __future__ import annotations

import csv
import io
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


def _cells(texts: list[str]) -> list[str]:
    """Each text as a cell of a csv.writer row (quoted only where it must be): lease ids and host names come from
    the workload, the numbers and activities never need quoting."""
    buf = io.StringIO()
    w = csv.writer(buf)
    out = []
    for t in texts:
        buf.seek(0)
        buf.truncate()
        w.writerow([t, ""])
        out.append(buf.getvalue()[: -len(",\r\n")])
    return out


def _allocation_text(lease: Lease, phases, hosts: list[str], num: _Numbers) -> str:
    """The lines of ``phases`` (a lease's history or lost work) as csv.writer would write them: one per VM and
    phase, amounts only where it holds; built from the phase's cells, which its VMs share."""
    lid = _cells([lease.id])[0]
    amounts = [f"{num[v[0]]},{num[v[1]]}" for v in lease.vecs]
    lines: list[str] = []
    for p in phases:
        if p.end - p.start <= 0:
            continue
        span = f"{num[p.start]},{num[p.end]},{p.activity.value}"
        if p.activity is Activity.TRANSFER:  # one copy per host: one row per host, on the first VM placed there
            placed = next((q.hosts for q in lease.history if q.holds), p.hosts)
            lines += [f"{lid},{placed.index(h) if h in placed else 0},{hosts[h]},{span},0,0\r\n" for h in p.hosts]
        elif p.holds:
            lines += [f"{lid},{node},{hosts[h]},{span},{amounts[node]}\r\n" for node, h in enumerate(p.hosts)]
        else:
            lines += [f"{lid},{node},{hosts[h]},{span},0,0\r\n" for node, h in enumerate(p.hosts)]
    return "".join(lines)


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
    hosts = _cells(names)
    for name, phases_of in (("allocations.csv", lambda L: L.history), ("lost_work.csv", lambda L: L.lost)):
        with open(out / name, "w", newline="") as fh:
            csv.writer(fh).writerow(ALLOC_COLUMNS)
            for L in result.leases:
                fh.write(_allocation_text(L, phases_of(L), hosts, num))
    with open(out / "queue.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["time", "queued"])
        w.writerows([num[t], q] for t, q in result.queue)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
