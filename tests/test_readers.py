"""Workload readers: formats, unit conversions, errors that name file and line,
and every workload shipped in ../shared/data/haizea-traces."""
from __future__ import annotations

import gzip
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from galerna.config.schema import TraceConfig
from galerna.model import DiskImage, LeaseType
from galerna.readers import TraceError, Workload, WorkloadCache, annotate, inject, load_workload
from galerna.model.units import parse_duration, resource_name

SWF_LINE = "{job} {submit} 5 {run} {alloc} -1 -1 {req} {reqtime} -1 {status} 3 -1 -1 1 -1 -1 -1"


def swf(tmp_path: Path, *rows: str, header: str = "; Version: 2.2\n; Computer: test\n") -> Path:
    p = tmp_path / "t.swf"
    p.write_text(header + "\n".join(rows) + "\n")
    return p


def job(job=1, submit=0, run=100, alloc=8, req=8, reqtime=200, status=1) -> str:
    return SWF_LINE.format(job=job, submit=submit, run=run, alloc=alloc, req=req, reqtime=reqtime, status=status)


# ---------------------------------------------------------------- errors and helpers


def test_trace_error_names_file_and_line():
    e = TraceError("/x/t.swf", 12, "bad thing")
    assert str(e) == "/x/t.swf:12: bad thing"
    assert (e.path, e.line, e.message) == (Path("/x/t.swf"), 12, "bad thing")
    assert str(TraceError("t.lwf", None, "gone")) == "t.lwf: gone"
    assert isinstance(e, ValueError)


@pytest.mark.parametrize(
    "text,seconds",
    [("00:30:00.00", 1800), ("01:15:30.50", 4530.5), ("5:00:00:00.00", 5 * 86400), ("+1:00:00.00", 3600),
     ("90", 90), ("01:30", 5400)],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


def test_parse_duration_rejects_garbage():
    with pytest.raises(ValueError, match="not a time"):
        parse_duration("half past ten")


@pytest.mark.parametrize("haizea,ours", [("CPU", "cpu"), ("Memory", "memory"), ("Mem", "memory"), ("Disk", "disk"),
                                         ("Net-in", "net-in"), ("Net (out)", "net-out")])
def test_resource_names(haizea, ours):
    assert resource_name(haizea) == ours


# ---------------------------------------------------------------- SWF


def test_swf_basic_job(tmp_path):
    w = load_workload(swf(tmp_path, job(job=7, submit=30, run=100, req=8, reqtime=200)))
    (r,) = w.requests
    assert (r.id, r.type, r.submit, r.duration, r.real_duration, r.n_nodes) == ("7", LeaseType.BE, 30, 200, 100, 8)
    assert dict(r.nodes[0]) == {"cpu": 1.0, "memory": 1024.0}
    assert r.preemptible and r.image is None and r.tenant == "user3"
    assert w.site is None and w.dropped == {}


def test_swf_wrong_field_count_names_file_and_line(tmp_path):
    p = swf(tmp_path, job(job=1), "2 10 5 100 8")
    with pytest.raises(TraceError) as err:
        load_workload(p)
    assert err.value.line == 4  # two header comments, one good job, then the bad one
    assert str(err.value).startswith(f"{p}:4: ") and "18" in str(err.value)


def test_swf_non_numeric_field_names_file_and_line(tmp_path):
    p = swf(tmp_path, job(job=1).replace(" 200 ", " 2h "), header="")
    with pytest.raises(TraceError, match=r"t\.swf:1: SWF field 9 is not a number: '2h'"):
        load_workload(p)


def test_swf_unusable_jobs_are_skipped_and_counted(tmp_path):
    p = swf(
        tmp_path,
        job(job=1),
        job(job=2, req=0, alloc=0),  # no processors
        job(job=3, run=-1, reqtime=-1),  # no time at all
        job(job=4, status=5),  # cancelled
        job(job=5, status=5, run=-1),  # cancelled while queued
        job(job=6, submit=-1),
    )
    w = load_workload(p, TraceConfig(swf_cancelled="drop"))
    assert [r.id for r in w.requests] == ["1"]
    assert w.dropped == {
        "no processors": 1,
        "neither requested time nor run time known": 1,
        "cancelled job (status 5)": 2,
        "unknown or negative submit time": 1,
    }
    assert any("cancelled" in m and "2 line(s)" in m for m in w.warnings)


def test_swf_durations(tmp_path):
    p = swf(
        tmp_path,
        job(job=1, run=500, reqtime=200),  # ran longer than requested: cut
        job(job=2, run=100, reqtime=-1),  # no request: plan with the run time
        job(job=3, run=-1, reqtime=300, status=5),  # kept when cancelled jobs are kept: runs its request
        job(job=4, run=0, reqtime=300),
    )
    w = load_workload(p, TraceConfig(swf_cancelled="drop"))
    got = {r.id: (r.duration, r.real_duration) for r in w.requests}
    assert got == {"1": (200, 200), "2": (100, 100), "4": (300, 300)}  # 3 cancelled: dropped
    assert any("cut to the requested time" in m for m in w.warnings)


def test_swf_cancelled_drop_unstarted_is_haizeas_rule(tmp_path):
    p = swf(
        tmp_path,
        job(job=1, run=-1, reqtime=300, status=5),  # cancelled in the queue: dropped
        job(job=2, run=120, reqtime=300, status=5),  # cancelled while running: held its node 120 s
        job(job=3, run=0, reqtime=300),  # ran under half a second: 1 s
        job(job=4, run=0, reqtime=-1),  # and with no request, planned for that 1 s
        job(job=5, run=200, reqtime=300),
    )
    w = load_workload(p, TraceConfig(swf_cancelled="drop-unstarted"))
    got = {r.id: (r.duration, r.real_duration) for r in w.requests}
    assert got == {"2": (300, 120), "3": (300, 1), "4": (1, 1), "5": (300, 200)}
    assert w.dropped == {"cancelled before it ran (status 5)": 1}
    w = load_workload(p, TraceConfig(swf_cancelled="drop"))
    assert [r.id for r in w.requests] == ["3", "5"]  # run 0 and no request: no time known, dropped
    assert w.dropped == {"cancelled job (status 5)": 2, "neither requested time nor run time known": 1}


def test_swf_trace_config(tmp_path):
    p = swf(tmp_path, job(job=1, alloc=16, req=12, run=50, reqtime=100))
    cfg = TraceConfig(swf_processors_per_node=8, swf_node_cpu=8, swf_node_memory=4096)
    (r,) = load_workload(p, cfg).requests
    assert r.n_nodes == 2 and dict(r.nodes[0]) == {"cpu": 8.0, "memory": 4096.0}  # ceil(12 / 8)
    (r,) = load_workload(p, TraceConfig(swf_use_requested_processors=False)).requests
    assert r.n_nodes == 16
    (r,) = load_workload(p, TraceConfig(runtime_from_requested=True)).requests
    assert r.duration == 50 and r.real_duration == 50


def test_swf_unknown_requested_processors_fall_back_to_allocated(tmp_path):
    (r,) = load_workload(swf(tmp_path, job(alloc=5, req=-1))).requests
    assert r.n_nodes == 5


def test_swf_duplicate_job_number(tmp_path):
    with pytest.raises(TraceError, match=r":2: job number 1 already used at line 1"):
        load_workload(swf(tmp_path, job(job=1), job(job=1), header=""))


def _swf_jobs(path: Path) -> list[list[str]]:
    rows = []
    for line in path.read_text().splitlines():
        line = line.split(";")[0].strip()
        if line:
            rows.append(line.split())
    return rows


@pytest.mark.parametrize("name", ["30days.swf", "15days.swf", "60days.swf", "150requests.swf", "200requests.swf",
                                  "600requests.swf", "1000requests.swf"])
def test_blue_swf_counts(traces_dir, name):
    path = traces_dir / "blue" / name
    rows = _swf_jobs(path)
    cancelled = sum(1 for r in rows if r[10] == "5")
    unstarted = sum(1 for r in rows if r[10] == "5" and float(r[3]) < 0)
    w = load_workload(path)  # the default keeps jobs cancelled while running
    assert len(w.requests) == len(rows) - unstarted
    assert w.dropped == ({"cancelled before it ran (status 5)": unstarted} if unstarted else {})
    assert all(r.type is LeaseType.BE for r in w.requests)
    w = load_workload(path, TraceConfig(swf_cancelled="drop"))
    assert len(w.requests) == len(rows) - cancelled
    assert w.dropped == ({"cancelled job (status 5)": cancelled} if cancelled else {})


def test_blue_30days_exact_values(traces_dir):
    w = load_workload(traces_dir / "blue" / "30days.swf")
    # 1,353 jobs cancelled: 437 in the queue (run time -1) are dropped, 916 that ran are kept
    assert len(w.requests) == 5545 - 437 and w.dropped == {"cancelled before it ran (status 5)": 437}
    assert len(load_workload(traces_dir / "blue" / "30days.swf", TraceConfig(swf_cancelled="drop")).requests) == 4192
    by_id = {r.id: r for r in w.requests}
    # "21 2597 31 7914 512 3903 -1 64 64500 -1 1 14 ..." (field 8 is already nodes)
    r = by_id["21"]
    assert (r.submit, r.n_nodes, r.duration, r.real_duration) == (2597, 64, 64500, 7914)
    # "13 0 22 43 32 0.03 -1 4 64800 ..."
    assert (by_id["13"].submit, by_id["13"].n_nodes, by_id["13"].runtime) == (0, 4, 43)
    submits = [r.submit for r in w.requests]
    assert submits == sorted(submits)


# ---------------------------------------------------------------- XML LWF


def test_lwf_deadline_leases_and_site(traces_dir):
    w = load_workload(traces_dir / "tests" / "deadline1.lwf")
    assert [(r.id, r.type) for r in w.requests] == [("1", LeaseType.DEADLINE), ("2", LeaseType.DEADLINE)]
    r1, r2 = w.requests
    assert (r1.submit, r1.start, r1.duration, r1.deadline) == (0, 1800, 1800, 6300)
    assert (r2.submit, r2.start, r2.deadline) == (900, 1800, 3600)
    assert r1.n_nodes == 4 and dict(r1.nodes[0]) == {"cpu": 1.0, "memory": 1024.0}
    assert r1.image == DiskImage("foobar1.img", 1024.0) and r1.preemptible
    assert [h.name for h in w.site.hosts] == ["node1", "node2", "node3", "node4"]
    assert w.site.resource_types == ("cpu", "memory")
    assert dict(w.site.hosts[0].capacity) == {"cpu": 1.0, "memory": 1024.0}


def test_lwf_ar_and_best_effort_with_real_duration(traces_dir):
    w = load_workload(traces_dir / "tests" / "preemption_prematureend.lwf")
    be, ar = w.requests
    assert (be.id, be.type, be.n_nodes, be.duration, be.real_duration, be.start) == (
        "1", LeaseType.BE, 1, 3600, 2700, None)
    assert (ar.id, ar.type, ar.submit, ar.start, ar.duration, ar.preemptible) == (
        "2", LeaseType.AR, 900, 1800, 900, False)
    assert ar.real_duration is None and ar.runtime == 900


def test_lwf_day_time_format_and_extra(traces_dir):
    w = load_workload(traces_dir / "tests" / "deadline16.lwf")
    assert {r.id: r.deadline for r in w.requests}["6"] == 5 * 86400
    (price,) = load_workload(traces_dir / "tests" / "price1.lwf").requests
    assert price.type is LeaseType.AR and price.image is None and price.extra == {"simul_userrate": "1.0"}


def test_lwf_types_in_mixed_files(traces_dir):
    w = load_workload(traces_dir / "tests" / "migrate.lwf")
    assert {r.id: r.type for r in w.requests} == {"1": LeaseType.AR, "2": LeaseType.AR, "3": LeaseType.BE}
    w = load_workload(traces_dir / "multi" / "withprematureend.lwf")
    assert w.site is None and len(w.requests) == 139 and w.count(LeaseType.BE) == 139
    assert load_workload(traces_dir / "sample.lwf").requests == []  # every request is commented out


LWF = """<?xml version="1.0"?>
<lease-workload name="t">
  <site>
    <resource-types names="CPU Memory Net-in"/>
    <nodes>
      <node-set numnodes="2"><res type="CPU" amount="200"/><res type="Memory" amount="2048"/>
        <res type="Net-in" amount="100"/></node-set>
      <node-set numnodes="1"><res type="CPU" amount="100"/><res type="Memory" amount="1024"/>
        <res type="Net-in" amount="100"/></node-set>
    </nodes>
  </site>
  <lease-requests>
    {requests}
  </lease-requests>
</lease-workload>
"""
REQ = """<lease-request arrival="{arrival}">
      <lease id="{id}" preemptible="false">
        <nodes><node-set numnodes="2"><res type="CPU" amount="50"/><res type="Memory" amount="512"/></node-set>
               <node-set numnodes="1"><res type="CPU"><instance amount="100"/><instance amount="100"/></res>
                 <res type="Memory" amount="256"/></node-set></nodes>
        <start>{start}</start>
        <duration time="{duration}"/>
        <software><none/></software>
      </lease>
    </lease-request>"""


def lwf(tmp_path: Path, *reqs: str) -> Path:
    p = tmp_path / "t.lwf"
    p.write_text(LWF.format(requests="\n".join(reqs)))
    return p


def test_lwf_immediate_node_sets_and_site(tmp_path):
    w = load_workload(lwf(tmp_path, REQ.format(arrival="00:10:00", id="im", start="<now/>", duration="00:05:00")))
    (r,) = w.requests
    assert (r.type, r.submit, r.start, r.duration, r.preemptible) == (LeaseType.IM, 600, None, 300, False)
    assert [dict(n) for n in r.nodes] == [{"cpu": 0.5, "memory": 512}] * 2 + [{"cpu": 2.0, "memory": 256}]
    assert [h.name for h in w.site.hosts] == ["node1", "node2", "node3"]
    assert w.site.resource_types == ("cpu", "memory", "net-in")
    assert dict(w.site.hosts[0].capacity) == {"cpu": 2.0, "memory": 2048.0, "net-in": 100.0}
    assert dict(w.site.hosts[2].capacity)["cpu"] == 1.0


def test_lwf_xml_error_has_line(tmp_path):
    p = tmp_path / "bad.lwf"
    p.write_text('<?xml version="1.0"?>\n<lease-workload>\n  <lease-requests>\n  </lease-workload>\n')
    with pytest.raises(TraceError) as err:
        load_workload(p)
    assert err.value.line == 4 and "mismatched tag" in str(err.value) and str(p) in str(err.value)


def test_lwf_bad_time_names_its_line(tmp_path):
    p = lwf(tmp_path, REQ.format(arrival="00:00:00", id="1", start="", duration="an hour"))
    text = p.read_text().splitlines()
    line = next(i for i, t in enumerate(text, 1) if "an hour" in t)
    with pytest.raises(TraceError, match=rf"t\.lwf:{line}: <duration time=…>: not a time: 'an hour'"):
        load_workload(p)


def test_lwf_duplicate_id_and_impossible_deadline(tmp_path):
    one = REQ.format(arrival="00:00:00", id="1", start="", duration="01:00:00")
    with pytest.raises(TraceError, match="lease id 1 already used"):
        load_workload(lwf(tmp_path, one, one))
    late = REQ.format(arrival="00:00:00", id="d", start='<exact time="01:00:00"/>', duration="01:00:00")
    late = late.replace("<software>", '<deadline time="01:30:00"/><software>')
    with pytest.raises(TraceError, match=r"t\.lwf:\d+: lease d: deadline 5400.0 is before earliest start"):
        load_workload(lwf(tmp_path, late))


def test_annotations(traces_dir):
    base = load_workload(traces_dir / "tests" / "reservation.lwf")
    assert [r.type for r in base.requests] == [LeaseType.BE, LeaseType.BE]
    w = annotate(base, traces_dir / "tests" / "annotations1.lwfa")
    r1, r2 = w.requests
    # <exact time="+10:00:00.00"/> and <deadline time="+20:00:00.00"/>, relative to arrival 0
    assert (r1.type, r1.start, r1.deadline, r1.image) == (LeaseType.DEADLINE, 36000, 72000, None)
    assert r1.extra == {"one": "1", "two": "2"}
    assert (r2.type, r2.image, r2.extra) == (LeaseType.BE, DiskImage("annotation.img", 4096), {"three": "3", "four": "4"})
    w = annotate(base, traces_dir / "tests" / "annotations2.lwfa")
    assert [(r.type, r.start) for r in w.requests] == [(LeaseType.AR, 3600), (LeaseType.AR, 900 + 7200)]
    with pytest.raises(TraceError, match="annotation file"):
        load_workload(traces_dir / "tests" / "annotations1.lwfa")


# ---------------------------------------------------------------- whitespace LWF, legacy CSV


def test_whitespace_lwf(traces_dir):
    path = traces_dir / "blue" / "injected_leases" / "15days" / "work_05-dur_1h-size_1small.lwf"
    lines = [l for l in path.read_text().splitlines() if l.strip()]
    w = load_workload(path)
    assert len(w.requests) == len(lines) == 207
    first = w.requests[0]  # "0 86400 1886 1886 22 1 1024 0 'NONE.img' 600"
    assert (first.id, first.type, first.submit, first.start, first.duration, first.real_duration) == (
        "inj-1", LeaseType.AR, 0, 86400, 1886, 1886)
    assert first.n_nodes == 22 and dict(first.nodes[0]) == {"cpu": 1.0, "memory": 1024.0}
    assert first.image is None and not first.preemptible
    assert {r.id for r in w.requests} == {f"inj-{i}" for i in range(1, 208)}


def test_whitespace_lwf_details(tmp_path):
    p = tmp_path / "inj.lwf"
    p.write_text("# comment\n-30 600 100 50 2 1 512 300 'img7' 800\n0 -1 100 200 1 2 256 0 'NONE.img' 600\n")
    ar, be = load_workload(p).requests
    assert (ar.type, ar.submit, ar.start, ar.real_duration) == (LeaseType.AR, 0, 600, 50)
    assert dict(ar.nodes[0]) == {"cpu": 1.0, "memory": 512.0, "disk": 300.0} and ar.image == DiskImage("img7", 800)
    assert (be.type, be.start, be.preemptible, be.real_duration) == (LeaseType.BE, None, True, 100)
    warnings = load_workload(p).warnings
    assert any("submit time moved to 0" in m for m in warnings) and any("cut to the duration" in m for m in warnings)
    p.write_text("0 600 100 100 2 1 512 0 'NONE.img' 600\n0 600 100 100 x 1 512 0 'NONE.img' 600\n")
    with pytest.raises(TraceError, match=r"inj\.lwf:2: nodes is not a number: 'x'"):
        load_workload(p)
    p.write_text("0 600 100 100 2 1 512 0\n")
    with pytest.raises(TraceError, match=r"inj\.lwf:1: expected 10 fields"):
        load_workload(p)


def test_legacy_csv_scenario(traces_dir):
    # 0;0;…;600;2;1024;100;RW;NULL;2700;600;BATCH / 1;…;3;…;NULL;900;900 / 900;…;4;…;900;7200;3600
    w = load_workload(traces_dir / "scenarios" / "test_simple.csv")
    got = [(r.id, r.type, r.submit, r.start, r.n_nodes, r.duration, r.real_duration) for r in w.requests]
    assert got == [("1", LeaseType.BE, 0, None, 2, 2700, 600), ("2", LeaseType.BE, 1, None, 3, 900, 900),
                   ("3", LeaseType.AR, 900, 1800, 4, 7200, 3600)]
    assert w.requests[0].image == DiskImage("nfs:///var/workspace/images/600M_0.img", 600)


def test_legacy_csv_bad_line(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text("# c\n0;0;NONE;0;8;100;100;RW;NULL;600;60;BATCH\n0;0;NONE\n")
    with pytest.raises(TraceError, match=r"s\.csv:3: expected 10 or 12"):
        load_workload(p)


# ---------------------------------------------------------------- every shared workload


def _expected_count(path: Path) -> int:
    """Requests in a file, counted without the readers."""
    text = path.read_text()
    if path.suffix == ".lwf" and text.lstrip().startswith("<"):
        return len(ET.parse(path).getroot().findall("lease-requests/lease-request"))
    comment = ";" if path.suffix == ".swf" else "#"
    return sum(1 for l in text.splitlines() if l.split(comment)[0].strip())


TRACES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "haizea-traces"


def _shared(pattern: str) -> list[str]:
    """Paths (relative to the traces folder) for parametrizing; empty when the folder is absent."""
    return sorted(str(p.relative_to(TRACES)) for p in TRACES.glob(pattern))


@pytest.mark.parametrize(
    "rel",
    _shared("multi/*.lwf") + _shared("tests/*.lwf") + ["sample.lwf"] + _shared("scenarios/*.*")
    + _shared("blue/injected_leases/*/*.lwf"),
)
def test_every_shared_workload_loads(traces_dir, rel):
    path = traces_dir / rel
    w = load_workload(path)
    assert isinstance(w, Workload)
    assert len(w.requests) == _expected_count(path) - sum(w.dropped.values())
    assert len({r.id for r in w.requests}) == len(w.requests)
    keys = [(r.submit, int(r.id) if r.id.isdigit() else r.id) for r in w.requests]
    assert [k[0] for k in keys] == sorted(k[0] for k in keys)


def test_shared_workload_list_is_complete(traces_dir):
    assert len(_shared("blue/injected_leases/*/*.lwf")) == 246 and len(_shared("tests/*.lwf")) == 42


# ---------------------------------------------------------------- injection and dispatch


def test_inject_blue(traces_dir):
    base = load_workload(traces_dir / "blue" / "30days.swf")
    inj_path = traces_dir / "blue" / "injected_leases" / "30days" / "work_10-dur_2h-size_1small.lwf"
    n_inj = _expected_count(inj_path)
    w = inject(base, inj_path)
    assert len(w.requests) == len(base.requests) + n_inj
    assert w.count(LeaseType.AR) == n_inj and w.count(LeaseType.BE) == len(base.requests)
    assert len(w.ids) == len(w.requests) and base.ids <= w.ids
    assert w.dropped == base.dropped and w.source == base.source


def test_inject_prefixes_colliding_ids(traces_dir):
    base = load_workload(traces_dir / "multi" / "withprematureend.lwf")
    w = inject(base, traces_dir / "multi" / "inj1.lwf")
    assert len(w.requests) == 139 + 13 and len(w.ids) == 152
    injected = {r.id for r in w.requests if r.type is LeaseType.AR}
    assert injected == {f"inj-{i}" for i in range(1, 14)}
    twice = inject(w, traces_dir / "multi" / "inj1.lwf")
    assert len(twice.ids) == 165 and "inj2-1" in twice.ids
    assert any("collided" in m for m in w.warnings)


def test_requests_sorted_by_submit_then_numeric_id(tmp_path):
    w = load_workload(swf(tmp_path, job(job=10, submit=5), job(job=9, submit=5), job(job=2, submit=7),
                          job(job=100, submit=5)))
    assert [r.id for r in w.requests] == ["9", "10", "100", "2"]


def test_dispatch_errors(tmp_path):
    (tmp_path / "w.json").write_text("{}")
    with pytest.raises(TraceError, match="unknown workload format '.json'"):
        load_workload(tmp_path / "w.json")
    with pytest.raises(TraceError, match="cannot read"):
        load_workload(tmp_path / "missing.swf")


def test_gzipped_swf(tmp_path):
    p = tmp_path / "t.swf.gz"
    with gzip.open(p, "wt") as fh:
        fh.write(job(job=3) + "\n")
    assert [r.id for r in load_workload(p).requests] == ["3"]


# ---------------------------------------------------------------- reading a file once for many runs


def test_workload_cache_reads_a_file_once_and_hands_out_own_lists(tmp_path, caplog):
    """A sweep worker's runs share the parsed trace: the same request objects, each load its own lists, and the
    file's warnings logged at every load as load_workload logs them (each run's log.txt names them)."""
    p = swf(tmp_path, job(job=1, run=300, reqtime=200), job(job=2, submit=10, status=5, run=-1))
    cache = WorkloadCache()
    with caplog.at_level("WARNING", logger="galerna.readers"):
        fresh = load_workload(p)
        expected_log = [r.getMessage() for r in caplog.records]
        caplog.clear()
        first = cache.load(p)
        second = cache.load(p)
        assert [r.getMessage() for r in caplog.records] == expected_log * 2 and len(expected_log) == 2
    assert first.requests == fresh.requests and (first.dropped, first.warnings) == (fresh.dropped, fresh.warnings)
    assert all(a is b for a, b in zip(first.requests, second.requests))  # parsed once
    first.requests.clear(), first.dropped.clear(), first.warnings.clear()
    assert cache.load(p).requests == fresh.requests and cache.load(p).warnings == fresh.warnings


def test_workload_cache_keys_on_the_file_and_the_reader_settings(tmp_path):
    p = swf(tmp_path, job(job=1, alloc=8, req=8))
    cache = WorkloadCache(size=2)
    one = cache.load(p)
    assert cache.load(p, TraceConfig(swf_processors_per_node=4)).requests[0].n_nodes == 2 != one.requests[0].n_nodes
    swf(tmp_path, job(job=1), job(job=2, submit=20))  # rewritten: another size
    assert [r.id for r in cache.load(p).requests] == ["1", "2"]
    (tmp_path / "x").mkdir()
    other = swf(tmp_path / "x", job(job=7))
    assert [r.id for r in cache.load(other).requests] == ["7"]
    assert len(cache._entries) == 2  # the oldest left
    with pytest.raises(TraceError, match="cannot read"):
        cache.load(tmp_path / "missing.swf")


def test_inject_reads_through_the_given_loader(traces_dir):
    cache = WorkloadCache()
    base = load_workload(traces_dir / "blue" / "30days.swf")
    inj_path = traces_dir / "blue" / "injected_leases" / "30days" / "work_10-dur_2h-size_1small.lwf"
    a, b = inject(base, inj_path, load=cache.load), inject(base, inj_path, load=cache.load)
    assert a.requests == inject(base, inj_path).requests
    injected = [r for r in a.requests if r.type is LeaseType.AR]
    assert injected and all(x is y for x, y in zip(injected, (r for r in b.requests if r.type is LeaseType.AR)))


def test_workload_cache_sees_a_same_size_rewrite_within_one_mtime_tick(tmp_path):
    """A file rewritten with other bytes of the same size and the same modification time (a coarse file-system
    clock) is read anew: the cache keys on the file's content."""
    p = swf(tmp_path, job(job=1, run=150))
    cache = WorkloadCache()
    st = os.stat(p)
    first = cache.load(p)
    text = p.read_text()
    assert " 150 " in text
    p.write_text(text.replace(" 150 ", " 160 ", 1))  # same length, other run time
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(p).st_size == st.st_size and os.stat(p).st_mtime_ns == st.st_mtime_ns
    again = cache.load(p)
    assert (first.requests[0].real_duration, again.requests[0].real_duration) == (150, 160)
