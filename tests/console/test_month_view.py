"""`galerna view` on a month-long run in Chromium: at every zoom from a month to a minute the time axis' tick labels
are evenly spaced on screen, do not overlap and stand where the times they name are drawn; at month zoom the merged
level of detail paints what every bar painted one by one does."""
from __future__ import annotations

import re

import pytest

from tests.console.synthetic import synthetic
from tests.console.viewserver import ViewServer

pytestmark = pytest.mark.xdist_group("console-view")

DAY, HOUR, MINUTE = 86400e3, 3600e3, 60e3
LABELS = """() => Array.from(document.querySelectorAll('.tl-axis span')).filter((s) => !s.hidden).map((s) => {
  const r = s.getBoundingClientRect(); return { text: s.textContent, left: r.left, right: r.right, top: r.top }; })"""


@pytest.fixture(scope="module")
def month(tmp_path_factory):
    out = tmp_path_factory.mktemp("axis") / "month-run"
    synthetic(out, 12000, hosts=20, days=30)  # a bar is about a pixel wide at month zoom
    srv = ViewServer(out, out.parent / "view.log").start()
    yield srv
    srv.stop()


def _ms(text: str) -> float:
    """'day 3', 'day 3 14:05' or 'day 3 14:05:30' in ms from the workload start."""
    m = re.fullmatch(r"day (\d+)(?: (\d\d):(\d\d)(?::(\d\d))?)?", text)
    assert m, f"unreadable tick label {text!r}"
    d, h, mi, s = (int(g or 0) for g in m.groups())
    return ((d * 24 + h) * 60 + mi) * 60e3 + s * 1e3


def _check_axis(page, span_name: str) -> float:
    labels = page.evaluate(LABELS)
    step = float(page.get_attribute(".tl-axis", "data-step"))
    assert len(labels) >= 3, f"{span_name}: {labels}"
    centres = [(lab["left"] + lab["right"]) / 2 for lab in labels]
    gaps = [b - a for a, b in zip(centres, centres[1:])]
    assert max(gaps) - min(gaps) <= 1.5, f"{span_name}: uneven tick labels {gaps}"
    for a, b in zip(labels, labels[1:]):
        assert a["right"] + 8 <= b["left"], f"{span_name}: labels {a['text']!r} and {b['text']!r} overlap"
    assert len({lab["top"] for lab in labels}) == 1
    times = [_ms(lab["text"]) for lab in labels]
    assert all(b - a == pytest.approx(step) for a, b in zip(times, times[1:])), f"{span_name}: {times}"
    # each label is centred where its time is on the chart
    box = page.locator("#timeline").bounding_box()
    x0, kx = page.evaluate("[window.galerna.timeline.view.x0, window.galerna.timeline.view.kx]")
    for t, c in zip(times, centres):
        assert c == pytest.approx(box["x"] + x0 + t * kx, abs=1.5), span_name
    return step


def test_tick_labels_are_evenly_spaced_and_readable_from_a_month_to_a_minute(page, month):
    page.goto(month.url)
    page.wait_for_selector("#timeline[data-drawn]", timeout=30000)
    lo, hi = page.evaluate("window.galerna.timeline.extent")
    assert hi - lo > 28 * DAY
    steps = {"month": _check_axis(page, "month")}
    assert DAY <= steps["month"] <= 7 * DAY
    for name, span in [("week", 7 * DAY), ("day", DAY), ("6 hours", 6 * HOUR), ("hour", HOUR),
                       ("10 minutes", 10 * MINUTE), ("minute", MINUTE)]:
        a = lo + 12.3 * DAY
        page.evaluate(f"window.galerna.timeline.zoomTo({a}, {a + span})")
        page.wait_for_function(f"Math.abs(window.galerna.timeline.view.kx * {span} - "
                               f"window.galerna.timeline.view.clip.width) < 1", timeout=10000)
        steps[name] = _check_axis(page, name)
    assert steps["hour"] <= 15 * MINUTE and steps["minute"] <= 15e3
    spans = list(steps.values())
    assert spans == sorted(spans, reverse=True) and len(set(spans)) >= 5, steps


def test_the_merged_level_of_detail_paints_what_the_bars_do_one_by_one(page, month):
    page.goto(month.url)
    page.wait_for_selector("#timeline[data-drawn]", timeout=30000)
    page.wait_for_function("window.galerna.timeline.index.levels.size > 0", timeout=10000)  # built after first paint
    got = page.evaluate("""() => {
      const tl = window.galerna.timeline, ix = tl.index;
      const shot = () => { tl.paint(); return tl.pixels.slice(); };
      const merged = shot(), levels = [...ix.levels.values()].map((lv) => lv.n);
      const drawn = tl.drawnTotal();
      ix.merging = false;
      const each = shot();
      ix.merging = true;
      let filled = 0, differ = 0;
      for (let k = 0; k < each.length; k++) {
        if (each[k] !== 0xffffffff) filled++;  // not the (opaque white) background
        if (each[k] !== merged[k]) differ++;
      }
      return { n: ix.n, levels, drawn, drawnEach: tl.drawnTotal(), filled, differ };
    }""")
    assert got["levels"] and got["levels"][0] < got["n"] * 0.8, got  # merging happened
    assert got["drawn"] == got["drawnEach"] == got["n"]
    assert got["filled"] > 100000 and got["differ"] <= got["filled"] * 0.02, got
