"""The timeline's own zoom and pan (zoom.js) in `galerna view`: the wheel zooms about the pointer, a drag pans, ECharts'
slider follows once the steps pause, and what is drawn still matches allocations.csv."""
from __future__ import annotations

from collections import Counter

import pytest

from tests.console.test_view import _allocations, _open, sim_out, view  # noqa: F401 (fixtures)

pytestmark = pytest.mark.xdist_group("console-view")
WIN = "window.galerna.timeline.visibleWindow()"


def _grid(page):
    """The grid's centre and width in page pixels."""
    box = page.locator("#timeline > div").first.bounding_box()
    r = page.evaluate("window.galerna.timeline.plotRect()")
    return box["x"] + r["x"] + r["width"] / 2, box["y"] + r["y"] + r["height"] / 2, r["width"]


def _time_at(page, x_page):
    box = page.locator("#timeline > div").first.bounding_box()
    x = x_page - box["x"]
    return page.evaluate(f"(() => {{ const v = window.galerna.timeline.view; return ({x} - v.x0) / v.kx; }})()")


def test_the_wheel_zooms_in_about_the_pointer_and_back_out(page, view):
    _open(page, view)
    lo, hi = page.evaluate(WIN)
    cx, cy, width = _grid(page)
    x = cx - width / 4  # off centre: the time under the pointer must stay under it
    page.mouse.move(x, cy)
    t = _time_at(page, x)
    for _ in range(5):
        page.mouse.wheel(0, -120)
    page.wait_for_function(f"{WIN}[1] - {WIN}[0] < {(hi - lo) * 0.6}", timeout=10000)
    page.wait_for_timeout(100)  # the last step's frame
    a, b = page.evaluate(WIN)
    assert lo < a < t < b < hi
    assert _time_at(page, x) == pytest.approx(t, abs=(b - a) / width * 2)  # within two pixels
    for _ in range(40):
        page.mouse.wheel(0, 400)
    page.wait_for_function(f"{WIN}[1] - {WIN}[0] >= {hi - lo} - 1", timeout=10000)
    assert page.evaluate(WIN) == [pytest.approx(lo), pytest.approx(hi)]  # clamped to the run, no further


def test_a_drag_pans_by_the_distance_dragged_and_is_not_a_click(page, view):
    _open(page, view)
    lo, hi = page.evaluate(WIN)
    a0, span = lo + (hi - lo) * 0.4, (hi - lo) * 0.2
    page.evaluate(f"window.galerna.timeline.zoomTo({a0}, {a0 + span})")
    cx, cy, width = _grid(page)
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx + 100, cy, steps=5)
    page.mouse.move(cx + 200, cy, steps=5)
    page.mouse.up()
    a, b = page.evaluate(WIN)
    assert b - a == pytest.approx(span)
    assert a == pytest.approx(a0 - 200 / width * span, rel=1e-3)  # dragged right: earlier times come into view
    assert page.locator("#detail h2").first.inner_text() == "Lease"  # the release picked no bar


def test_the_slider_follows_the_window_once_zoom_steps_pause(page, view):
    _open(page, view)
    lo, hi = page.evaluate(WIN)
    a, b = lo + (hi - lo) * 0.25, lo + (hi - lo) * 0.5
    # in one task: the window moves at once, ECharts' axis (and slider) not yet
    got = page.evaluate(f"""() => {{ const tl = window.galerna.timeline; tl.zoomTo({a}, {b});
      return [tl.visibleWindow(), tl.axisWindow()]; }}""")
    assert got[0] == [pytest.approx(a), pytest.approx(b)] and got[1] == [pytest.approx(lo), pytest.approx(hi)]
    page.wait_for_function(f"Math.abs(window.galerna.timeline.axisWindow()[0] - {a}) < 1", timeout=10000)
    zoom = page.evaluate("window.galerna.timeline.chart.getOption().dataZoom[0]")
    assert (zoom["startValue"], zoom["endValue"]) == (pytest.approx(a), pytest.approx(b))
    # and the other way: the slider moved by the user sets the window
    page.evaluate("window.galerna.timeline.chart.dispatchAction("
                  "{type: 'dataZoom', dataZoomId: 'x', start: 60, end: 80})")
    page.wait_for_function(f"Math.abs({WIN}[0] - {lo + (hi - lo) * 0.6}) < 1", timeout=10000)
    assert page.evaluate(WIN)[1] == pytest.approx(lo + (hi - lo) * 0.8)


def test_after_wheel_zooming_the_bars_drawn_match_allocations_and_hover_finds_them(page, view, sim_out):  # noqa: F811
    rows = _allocations(sim_out)
    _open(page, view)
    cx, cy, _ = _grid(page)
    page.mouse.move(cx, cy)
    for _ in range(12):
        page.mouse.wheel(0, -150)
    page.wait_for_function(f"window.galerna.timeline.drawnTotal() < {len(rows) / 2}", timeout=10000)
    page.wait_for_timeout(200)  # the last step painted, the slider synced
    a, b = (t / 1000 for t in page.evaluate(WIN))
    hosts = page.evaluate("window.galerna.data.hosts.map(h => h.name)")
    drawn = dict(zip(hosts, page.evaluate("window.galerna.timeline.drawnPerHost")))
    expected = Counter(r["host"] for r in rows if float(r["start"]) < b and float(r["end"]) > a)
    assert {h: n for h, n in drawn.items() if n} == dict(expected) and sum(expected.values()) > 0
    # a bar in view, hovered where the zoomed timeline drew it
    i = next(i for i, r in enumerate(rows) if r["activity"] == "run" and float(r["start"]) < b and float(r["end"]) > a
             and min(b, float(r["end"])) - max(a, float(r["start"])) > (b - a) / 50)
    x, y = page.evaluate(f"window.galerna.timeline.barCentre({i})")
    box = page.locator("#timeline > div").first.bounding_box()
    page.mouse.move(box["x"] + x, box["y"] + y)
    tip = page.locator(".bar-tip").first
    tip.wait_for(timeout=10000)
    assert f"lease {rows[i]['lease_id']}" in tip.inner_text()


def test_two_fingers_pinching_apart_zoom_in_about_their_midpoint(page, view):
    _open(page, view)
    lo, hi = page.evaluate(WIN)
    gx, cy, width = _grid(page)
    cx = gx - width / 4  # the fingers' midpoint a quarter of the way in: it must stay where it is
    t = _time_at(page, cx)
    # touch pointers as a touch screen sends them (Playwright has no two-finger gesture): 100 px apart, then 300
    page.evaluate(f"""() => {{
      const el = document.getElementById("timeline");
      const ev = (type, id, x) => (type === "pointerdown" ? el : window).dispatchEvent(new PointerEvent(type,
        {{ pointerId: id, pointerType: "touch", clientX: x, clientY: {cy}, bubbles: true, isPrimary: id === 1 }}));
      ev("pointerdown", 1, {cx - 50}); ev("pointerdown", 2, {cx + 50});
      for (let k = 1; k <= 10; k++) {{
        ev("pointermove", 1, {cx - 50} - 10 * k);
        ev("pointermove", 2, {cx + 50} + 10 * k);
      }}
      ev("pointerup", 1, {cx - 150}); ev("pointerup", 2, {cx + 150});
    }}""")
    a, b = page.evaluate(WIN)
    assert b - a == pytest.approx((hi - lo) / 3, rel=1e-3)  # the fingers three times as far apart
    assert a + (b - a) / 4 == pytest.approx(t, abs=(hi - lo) / width * 2)  # about their midpoint (within 2 px)


def test_new_data_keeps_a_zoomed_window_and_an_unzoomed_one_follows_the_range(page, view):
    # the console calls setData(..., keepZoom) every 15 s with a range that has moved on with the clock
    _open(page, view)
    got = page.evaluate("""() => {
      const tl = window.galerna.timeline, [lo, hi] = tl.extent.map((t) => t / 1000);
      const again = (shift) => tl.setData(tl.hosts, tl.bars, tl.now, true, [lo + shift, hi + shift]);
      again(60);
      const whole = tl.visibleWindow();
      tl.zoomTo((lo + 3600) * 1000, (lo + 7200) * 1000);
      again(120);
      return { lo, hi, whole, zoomed: tl.visibleWindow() };
    }""")
    lo, hi = got["lo"] * 1000, got["hi"] * 1000
    assert got["whole"] == [pytest.approx(lo + 60e3), pytest.approx(hi + 60e3)]
    assert got["zoomed"] == [pytest.approx(lo + 3600e3), pytest.approx(lo + 7200e3)]
