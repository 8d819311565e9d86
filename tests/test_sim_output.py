"""sim.output writes allocation rows as text built from shared cells; they must read back exactly as the plain
csv.writer loop it replaced wrote them (the oracle below), also where lease ids and host names need quoting."""
from __future__ import annotations

import csv
import io
from dataclasses import replace

import pytest

from galerna.model.site import Site
from galerna.schedule.lease import Activity
from galerna.sim.default_workload import HOST_CPU, HOST_MEMORY, HOSTS, default_workload
from galerna.sim.output import _Numbers, _num
from helpers import config, run, write


def _oracle(result, history: bool) -> str:
    """allocations.csv / lost_work.csv as the simple loop wrote them: csv.writer, one _num per cell."""
    names = [h.name for h in result.site.hosts]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["lease_id", "node", "host", "start", "end", "activity", "cpu", "memory"])
    for L in result.leases:
        for p in L.history if history else L.lost:
            if p.end - p.start <= 0:
                continue
            if p.activity is Activity.TRANSFER:
                placed = next((q.hosts for q in L.history if q.holds), p.hosts)
                for h in p.hosts:
                    node = placed.index(h) if h in placed else 0
                    w.writerow([L.id, node, names[h], _num(p.start), _num(p.end), p.activity.value, 0, 0])
                continue
            for node, h in enumerate(p.hosts):
                v = L.vecs[node]
                w.writerow([L.id, node, names[h], _num(p.start), _num(p.end), p.activity.value,
                            _num(v[0] if p.holds else 0.0), _num(v[1] if p.holds else 0.0)])
    return buf.getvalue()


@pytest.mark.parametrize("sections", [
    {"imagetransfer": {"preparation": "imagetransfer", "bandwidth": 100}},  # transfer rows, which hold nothing
    {"scheduling": {"suspension": "none"}},  # cancel-and-requeue: lost work
], ids=["transfers", "lost-work"])
def test_allocation_files_match_the_csv_writer_oracle(tmp_path, sections):
    odd = {"7": 'job,"7"', "12": "line\nbreak", "30": "plain-30"}  # ids that csv must quote, and one it must not
    requests = [replace(r, id=odd.get(r.id, r.id)) for r in default_workload()]
    site = Site.uniform(HOSTS, cpu=HOST_CPU, memory=HOST_MEMORY, prefix='rack,"a" ')
    result = run(site, requests, config(**sections))
    write(result, tmp_path)
    for name, history in (("allocations.csv", True), ("lost_work.csv", False)):
        expected = _oracle(result, history)
        assert (tmp_path / name).read_bytes().decode() == expected, name
    rows = list(csv.reader(io.StringIO(_oracle(result, True))))
    kinds = {r[5] for r in rows[1:]}
    assert {r[0] for r in rows[1:]} >= {'job,"7"', "line\nbreak"} and any(r[2].startswith('rack,"a"') for r in rows[1:])
    if "imagetransfer" in sections:
        assert "transfer" in kinds
    else:
        assert len(list(csv.reader(io.StringIO(_oracle(result, False))))) > 1  # some work was lost


@pytest.mark.parametrize("x", [None, 0, 0.0, -0.0, 1, 1.0, 2.5, 0.1 + 0.2, 1 / 3, -7.25, 1e20, 123456789.0000004])
def test_numbers_memo_formats_like_num(x):
    num = _Numbers()
    assert num[x] == _num(x) and num[x] == _num(x)  # computed, then from the memo
    assert num[1] == num[1.0] == "1"
