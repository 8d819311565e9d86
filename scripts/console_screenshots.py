"""The README's two console screenshots, taken in Debian's Chromium (and a third, hour zoom, to look at).

    python scripts/console_screenshots.py BLUE_OUT_DIR [--dest docs/img]

1. docs/img/console-timeline.png: a real `galerna serve` (libvirt test-driver hosts, SQLite) with a few dozen leases
   of every type (running, planned, over), one host in maintenance, signed in as admin.
2. docs/img/view-blue.png: `galerna view` on the 30-day Blue Horizon output, at a day and a half, with one lease
   picked and a bar hovered; view-blue-month.png, -day, -hour and -minute.png (not in the README) at those zooms.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.console.browser import available, launch  # noqa: E402
from tests.console.viewserver import ViewServer  # noqa: E402
from tests.daemon.conftest import make_server  # noqa: E402


def leases(server) -> None:
    """A few dozen leases: immediate and best-effort ones that run now, ARs ahead, deadlines, some ended early."""
    now = datetime.now(timezone.utc)
    with server.client("alice") as a, server.client("bob") as b, server.client("admin") as adm:
        made = []
        for i in range(8):  # the first three end while the page is looked at: over, left of the now line
            made.append(a.post("/v1/leases", json={"type": "immediate", "duration": 40 + 10 * i if i < 3 else
                                                  1800 + 900 * i, "cpu": 0.5, "memory": 64, "name": f"web-{i}"}).json())
        for i in range(10):
            (a if i % 2 else b).post("/v1/leases", json={"type": "best_effort", "duration": 2400 + 600 * i,
                                                         "n_nodes": 1 + i % 2, "cpu": 1, "memory": 128})
        for i in range(10):
            start = (now + timedelta(minutes=20 + 25 * i)).isoformat()
            b.post("/v1/leases", json={"type": "ar", "start": start, "duration": 1800, "n_nodes": 1 + i % 3,
                                       "cpu": 1, "memory": 256, "name": f"class-{i}"})
        for i in range(4):
            a.post("/v1/leases", json={"type": "deadline", "duration": 1200, "cpu": 1, "memory": 64,
                                       "deadline": (now + timedelta(hours=3 + i)).isoformat()})
        adm.post("/v1/hosts/test2/maintenance")
        assert all("id" in m for m in made), made


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("blue", type=Path, help="the 30-day Blue Horizon output directory")
    ap.add_argument("--dest", type=Path, default=ROOT / "docs" / "img")
    args = ap.parse_args()
    why = available()
    if why:
        sys.exit(f"console_screenshots: {why}")
    tmp = Path(tempfile.mkdtemp(prefix="galerna-shots-"))
    from playwright.sync_api import sync_playwright

    server, drop = make_server("sqlite", tmp / "serve")
    server.start()
    view = ViewServer(args.blue, tmp / "view.log").start()
    try:
        with sync_playwright() as p:
            ctx = launch(p, viewport=(1500, 860))
            leases(server)
            page = ctx.new_page()
            page.goto(server.url + "/")
            page.fill("#token", server.tokens["admin"])
            page.click("#signin-form button")
            page.wait_for_selector("#timeline[data-bars]", timeout=30000)
            page.select_option("#window", index=1)  # 1 h back, 3 h ahead
            time.sleep(75)  # some leases run a while, the short ones end
            page.evaluate("window.galerna.timeline.zoomTo(Date.now() - 5 * 60e3, Date.now() + 55 * 60e3)")
            page.wait_for_timeout(1500)
            page.screenshot(path=str(args.dest / "console-timeline.png"))
            page.close()

            page = ctx.new_page()
            page.goto(view.url)
            page.wait_for_selector("#timeline[data-drawn]", timeout=120000)
            page.wait_for_timeout(500)
            page.screenshot(path=str(args.dest / "view-blue-month.png"))
            day = 86400e3
            page.evaluate(f"window.galerna.timeline.zoomTo({14.5 * day}, {16 * day})")
            page.wait_for_timeout(800)
            box = page.locator("#timeline > div").first.bounding_box()  # ECharts' layer: the chart's origin
            i = page.evaluate("""() => { const tl = window.galerna.timeline, b = tl.bars, [lo, hi] = tl.visibleWindow();
                let best = -1;  // a long run bar in the middle of the window, to pick and hover
                for (let k = 0; k < b.host.length; k++) if (b.act[k] === 0 && b.start[k] * 1000 > lo + (hi - lo) * 0.3 &&
                  b.end[k] * 1000 < hi && b.host[k] > 40 && (best < 0 || b.end[k] - b.start[k] > b.end[best] - b.start[best])) best = k;
                return best; }""")
            x, y = page.evaluate(f"window.galerna.timeline.barCentre({i})")
            page.mouse.click(box["x"] + x, box["y"] + y)
            page.wait_for_selector("#detail table", timeout=30000)
            page.mouse.move(box["x"] + x, box["y"] + y + 1)
            page.wait_for_timeout(400)
            page.screenshot(path=str(args.dest / "view-blue.png"))
            page.evaluate(f"window.galerna.timeline.zoomTo({15 * day}, {15 * day + 3600e3})")
            page.wait_for_timeout(800)
            page.screenshot(path=str(args.dest / "view-blue-hour.png"))
            for name, span in [("day", day), ("minute", 60e3)]:
                page.evaluate(f"window.galerna.timeline.zoomTo({15 * day}, {15 * day + span})")
                page.wait_for_timeout(800)
                page.screenshot(path=str(args.dest / f"view-blue-{name}.png"))
            ctx.close()
    finally:
        view.stop()
        server.stop()
        drop()
    print(f"screenshots in {args.dest}")


if __name__ == "__main__":
    main()
