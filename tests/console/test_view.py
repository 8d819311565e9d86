"""`galerna view` on a real simulation output: the bars drawn match allocations.csv."""
from __future__ import annotations

import csv
import subprocess
import sys
from collections import Counter

import pytest

from tests.console.viewserver import ViewServer

pytestmark = pytest.mark.xdist_group("console-view")


@pytest.fixture(scope="module")
def sim_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("view") / "demo-run"
    subprocess.run([sys.executable, "-m", "galerna.cli", "simulate", "--out", str(out)], check=True,
                   capture_output=True)
    return out


@pytest.fixture(scope="module")
def view(sim_out, tmp_path_factory):
    srv = ViewServer(sim_out, tmp_path_factory.mktemp("view-log") / "view.log").start()
    yield srv
    srv.stop()


def _allocations(out):
    with open(out / "allocations.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _open(page, view):
    page.goto(view.url)
    page.wait_for_selector("#timeline[data-drawn]", timeout=30000)


def test_bars_drawn_match_allocations_per_host(page, view, sim_out):
    rows = _allocations(sim_out)
    _open(page, view)
    hosts = page.evaluate("window.galerna.data.hosts.map(h => h.name)")
    drawn = page.evaluate("window.galerna.timeline.drawnPerHost")
    assert dict(zip(hosts, drawn)) == dict(Counter(r["host"] for r in rows))
    assert int(page.get_attribute("#timeline", "data-drawn")) == len(rows)
    assert page.inner_text("#run-stats").endswith(f"{len(rows)} allocations")


def test_hovering_a_sampled_bar_shows_its_start_end_and_lease(page, view, sim_out):
    rows = _allocations(sim_out)
    # the longest run bar: wide enough to hit at any zoom, and its centre lies on it alone (lanes separate overlaps)
    i, row = max(((i, r) for i, r in enumerate(rows) if r["activity"] == "run"),
                 key=lambda ir: float(ir[1]["end"]) - float(ir[1]["start"]))
    _open(page, view)
    x, y = page.evaluate(f"window.galerna.timeline.barCentre({i})")
    box = page.locator("#timeline > div").first.bounding_box()  # ECharts' layer: the chart's origin
    page.mouse.move(box["x"] + x, box["y"] + y)
    tip = page.locator(".bar-tip").first
    tip.wait_for(timeout=10000)
    span = tip.locator("[data-start]")
    assert float(span.get_attribute("data-start")) == pytest.approx(float(row["start"]))
    assert float(span.get_attribute("data-end")) == pytest.approx(float(row["end"]))
    assert f"lease {row['lease_id']}" in tip.inner_text() and row["host"] in tip.inner_text()
    page.mouse.click(box["x"] + x, box["y"] + y)
    assert page.locator("#detail h2").first.inner_text() == f"Lease {row['lease_id']}"
    history = page.locator("#detail table tr")
    assert history.count() - 1 == sum(r["lease_id"] == row["lease_id"] for r in rows)


def test_zooming_in_draws_only_the_bars_in_the_window(page, view, sim_out):
    rows = _allocations(sim_out)
    _open(page, view)
    a, b = 20000.0, 21800.0  # half an hour
    page.evaluate(f"window.galerna.timeline.zoomTo({a * 1000}, {b * 1000})")
    page.wait_for_function(f"window.galerna.timeline.drawnTotal() < {len(rows)}", timeout=10000)
    expected = sum(float(r["start"]) < b and float(r["end"]) > a for r in rows)
    assert page.evaluate("window.galerna.timeline.drawnTotal()") == expected
    lo, hi = page.evaluate("window.galerna.timeline.visibleWindow()")
    assert (lo, hi) == (pytest.approx(a * 1000), pytest.approx(b * 1000))


def test_a_malformed_output_directory_fails_with_file_and_line(tmp_path, sim_out):
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in ("hosts.csv", "leases.csv"):
        (bad / f).write_text((sim_out / f).read_text())
    lines = (sim_out / "allocations.csv").read_text().splitlines()
    lines[3] = lines[3].replace(",run,", ",sleep,", 1) if ",run," in lines[3] else lines[3] + "x"
    (bad / "allocations.csv").write_text("\n".join(lines) + "\n")
    r = subprocess.run([sys.executable, "-m", "galerna.cli", "view", str(bad), "--port", "1"], capture_output=True,
                       text=True)
    assert r.returncode == 2
    assert f"{bad / 'allocations.csv'}:4:" in r.stderr


def test_the_run_report_links_to_galerna_view(tmp_path, sim_out, monkeypatch):
    from galerna.report import run_figures
    from galerna.report.build import report_run

    # the page, not its figures (tests/report draws those): drawing them took most of this test's time
    monkeypatch.setattr(run_figures, "run_figures", lambda run_dir, out_dir, **k: out_dir.mkdir(parents=True) or [])
    index = report_run(sim_out, tmp_path / "report", max_bars=500)
    page = index.read_text()
    assert f"<code>galerna view {sim_out.resolve()}</code>" in page and "127.0.0.1:7071" in page


def test_the_allocations_come_as_typed_array_columns_in_csv_order(view, sim_out):
    from array import array

    import httpx

    c = httpx.Client(base_url=view.url, timeout=30)
    run = c.get("v1/view/data").json()
    raw = c.get("v1/view/allocations").content
    n = run["allocations"]["count"]
    codes = {"Float64Array": "d", "Int32Array": "i", "Uint8Array": "B"}
    cols, offset = {}, 0
    for name, kind in run["allocations"]["layout"]:
        col = array(codes[kind])
        col.frombytes(raw[offset:offset + n * col.itemsize])
        cols[name], offset = col, offset + n * col.itemsize
    assert offset == len(raw)
    rows = _allocations(sim_out)
    assert n == len(rows)
    hosts = [h["name"] for h in run["hosts"]]
    got = [(run["leases"]["lease_id"][cols["lease"][i]], hosts[cols["host"][i]], cols["start"][i], cols["end"][i],
            run["activities"][cols["activity"][i]], cols["node"][i]) for i in range(n)]
    assert got == [(r["lease_id"], r["host"], float(r["start"]), float(r["end"]), r["activity"], int(r["node"]))
                   for r in rows]
    leases = c.get("v1/view/leases").json()
    with open(sim_out / "leases.csv", newline="") as fh:
        states = [r["state"] for r in csv.DictReader(fh)]
    assert leases["state"] == states and leases["lease_id"] == run["leases"]["lease_id"]
    types = [run["leases"]["types"][k] for k in run["leases"]["type"]]
    assert types == leases["type"]
