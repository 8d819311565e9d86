"""The console's timeline with tens of thousands of bars, in a real browser: first paint and frame times.

    python benchmarks/console_render.py                 # a synthetic 30-day output: 144 hosts, 50,000 allocations
    python benchmarks/console_render.py OUT_DIR         # a real `galerna simulate --out` directory
    python benchmarks/console_render.py --allocations 100000

`galerna view` serves the output; Debian's Chromium (through Playwright) opens it. First paint is the time from
the start of navigation to the performance mark the timeline sets when ECharts has drawn the bars (fetching and
parsing the data included). Then a scripted zoom (from the whole month to one minute), pan (a day-wide window
dragged across ten days) and zoom out, one step per animation frame; the gaps between animation frames are the
frame times (16.7 ms is 60 frames/s). Wall times depend on what else the 2 cores run, so the CPU time the
browser's processes spend (from /proc) is printed too. Targets (issue 16): first paint < 2 s, no visible stutter.
"""
from __future__ import annotations

import argparse
import csv
import os
import random
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.console.browser import available, cpu_seconds, launch  # noqa: E402
from tests.console.viewserver import ViewServer  # noqa: E402

SCRIPT = """async ([steps]) => {
  const tl = window.galerna.timeline;
  const [lo, hi] = tl.extent;
  const mid = lo + (hi - lo) * 0.47;
  const plan = [];
  for (let i = 1; i <= steps; i++) {            // zoom in: the whole run down to one minute, geometrically
    const span = (hi - lo) * Math.pow(60e3 / (hi - lo), i / steps);
    plan.push(["zoom-in", mid - span / 2, mid + span / 2]);
  }
  const day = 86400e3;
  for (let i = 0; i <= steps; i++) {            // pan: a one-day window moved over ten days
    const a = lo + 5 * day + (10 * day * i) / steps;
    plan.push(["pan", a, a + day]);
  }
  for (let i = 1; i <= steps / 2; i++) {         // zoom out again to the whole run
    const span = day * Math.pow((hi - lo) / day, (2 * i) / steps);
    const c = Math.min(Math.max(mid, lo + span / 2), hi - span / 2);
    plan.push(["zoom-out", c - span / 2, c + span / 2]);
  }
  const gaps = {};
  let last = null;
  await new Promise((done) => {
    let k = 0;
    const frame = (t) => {
      if (last !== null) (gaps[plan[k - 1][0]] ||= []).push(t - last);
      last = t;
      if (k === plan.length) return done();
      const [, a, b] = plan[k++];
      tl.zoomTo(a, b);
      requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
  });
  return gaps;
}"""


def synthetic(out: Path, n: int, hosts: int = 144, days: int = 30, seed: int = 1) -> None:
    """An output directory with about ``n`` allocations: back-to-back leases on every host, a few suspended and
    resumed, so each host's row is full for the whole month (the worst case for drawing)."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    horizon = days * 86400.0
    per_host = n // hosts
    mean = horizon / per_host
    leases, allocs = [], []
    for h in range(hosts):
        t = rng.uniform(0, mean)
        while len(allocs) < (h + 1) * per_host and t < horizon:
            lid = len(leases) + 1
            d = rng.expovariate(1 / mean) * 0.9 + 60
            kind = rng.choice(["be", "be", "be", "ar", "im", "deadline"])
            leases.append([lid, kind, max(0, t - 600), "", "", d, d, 1, 1, 1024, "true", "done", t, t + d, 600, "",
                           0, f"node{h + 1}"])
            if rng.random() < 0.05 and d > 1200:
                half = d / 2
                allocs += [[lid, 0, f"node{h + 1}", t, t + half, "run"], [lid, 0, f"node{h + 1}", t + half, t + half + 60, "suspend"],
                           [lid, 0, f"node{h + 1}", t + half + 60, t + half + 120, "resume"],
                           [lid, 0, f"node{h + 1}", t + half + 120, t + d + 120, "run"]]
                d += 120
            else:
                allocs.append([lid, 0, f"node{h + 1}", t, t + d, "run"])
            t += d + rng.uniform(0, mean * 0.2)
    with open(out / "hosts.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["host", "cpu", "memory"])
        w.writerows([f"node{h + 1}", 1, 1024] for h in range(hosts))
    with open(out / "leases.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["lease_id", "type", "submit", "start_requested", "deadline", "duration", "real_duration", "nodes",
                    "cpu", "memory", "preemptible", "state", "start", "end", "wait", "bounded_slowdown",
                    "suspensions", "hosts"])
        w.writerows(leases)
    with open(out / "allocations.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["lease_id", "node", "host", "start", "end", "activity", "cpu", "memory"])
        w.writerows([*a, 1, 1024] for a in allocs)


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", nargs="?", type=Path, help="a simulation output directory (default: a synthetic one)")
    ap.add_argument("--allocations", type=int, default=50000, help="rows of the synthetic output")
    ap.add_argument("--steps", type=int, default=120, help="frames of each zoom/pan phase")
    ap.add_argument("--runs", type=int, default=3, help="page loads (first paint is measured on each)")
    args = ap.parse_args()
    why = available()
    if why:
        sys.exit(f"console_render: {why}")
    tmp = Path(tempfile.mkdtemp(prefix="galerna-console-bench-"))
    out = args.out
    if out is None:
        out = tmp / "synthetic"
        synthetic(out, args.allocations)
    rows = sum(1 for _ in open(out / "allocations.csv")) - 1
    load0 = os.getloadavg()[0]
    srv = ViewServer(out, tmp / "view.log").start()
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as p:
            ctx = launch(p, viewport=(1600, 900))
            paints, draws, load_cpu = [], [], []
            for _ in range(args.runs):
                page = ctx.new_page()
                c0 = cpu_seconds(ctx.profile_dir)
                page.goto(srv.url)
                page.wait_for_selector("#timeline[data-drawn]", timeout=60000)
                load_cpu.append((cpu_seconds(ctx.profile_dir) - c0) * 1000)
                paints.append(page.evaluate("performance.getEntriesByName('galerna-bars-drawn')[0].startTime"))
                draws.append(int(page.get_attribute("#timeline", "data-drawn")))
                page.close()
            page = ctx.new_page()
            page.goto(srv.url)
            page.wait_for_selector("#timeline[data-drawn]", timeout=60000)
            page.wait_for_timeout(500)
            c0 = cpu_seconds(ctx.profile_dir)
            gaps = page.evaluate(SCRIPT, [args.steps])
            frame_cpu = (cpu_seconds(ctx.profile_dir) - c0) * 1000 / sum(len(g) for g in gaps.values())
            ctx.close()
    finally:
        srv.stop()
    print(f"output: {out} ({rows} allocations; {draws[0]} bars drawn at full extent); "
          f"load average before/after: {load0:.1f}/{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"first paint (navigation to bars drawn), {args.runs} loads: "
          + ", ".join(f"{x:.0f} ms" for x in paints) + f"  (median {statistics.median(paints):.0f} ms; target < 2000)")
    print(f"browser CPU time (all its processes) per page load: " + ", ".join(f"{x:.0f} ms" for x in load_cpu)
          + f"; per zoom/pan frame: {frame_cpu:.1f} ms (what the frames would cost with the cores to itself)")
    allg = [g for phase in gaps.values() for g in phase]
    print(f"{'frames':<10}{'n':>5}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'> 50 ms':>9}")
    for name, g in [*gaps.items(), ("all", allg)]:
        print(f"{name:<10}{len(g):>5}{pct(g, 50):>9.1f}{pct(g, 95):>9.1f}{max(g):>9.1f}{sum(x > 50 for x in g):>9}")


if __name__ == "__main__":
    main()
