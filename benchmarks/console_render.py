"""The console's timeline with tens of thousands of bars, in a real browser: first paint and frame times.

    python benchmarks/console_render.py                 # the 30-day Blue Horizon output (~50,000 allocations)
    python benchmarks/console_render.py OUT_DIR         # any `galerna simulate --out` directory
    python benchmarks/console_render.py --synthetic 50000   # 144 hosts full for 30 days (the worst case for drawing)

With no OUT_DIR, the Blue Horizon output is simulated once (README's command: 30days.swf, work_20-dur_3h-size_2medium
ARs, 144 nodes, aggressive backfilling) into $TMPDIR/galerna-console-bench/blue-30days and reused by later runs.
`galerna view` serves it; Debian's Chromium (through Playwright) opens it ``--runs`` times. First paint is from the
start of navigation to the performance mark the timeline sets when the bars are drawn, from the page's own marks
(data parsed, library loaded, bars indexed are printed too); a cold load of each tree (in a browser of its own:
nothing cached, nothing compiled) is reported apart from the others. On each page, ``--repeats`` times, a scripted zoom (the whole month down
to one minute), pan (a day-wide window moved across ten days) and zoom out, one step per animation frame: the gaps
between animation frames are the frame times (16.7 ms is 60 frames/s; a gap of k frames drops k - 1), and the main
thread's own work per frame (the zoom call plus painting the bars) is timed in the page. The summary pools every
frame of every run (p50/p95/max, dropped), not the best run. Wall times depend on what else the 2 cores run, so the
load average and the CPU time of the browser's processes are printed as well. ``--against TREE`` measures another
source tree's `galerna view` too, page loads alternating, and prints the ratios.
Targets (issue 16): first paint < 2 s, zoom and pan without visible stutter.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.console.browser import available, cpu_seconds, launch  # noqa: E402
from tests.console.synthetic import synthetic  # noqa: E402
from tests.console.viewserver import ViewServer  # noqa: E402

SHARED = Path(os.environ.get("GALERNA_SHARED", ROOT.parent / "shared")) / "data" / "haizea-traces" / "blue"
BLUE_ARGS = [str(SHARED / "30days.swf"), "--inject",
             str(SHARED / "injected_leases" / "30days" / "work_20-dur_3h-size_2medium.lwf"),
             "--set", "site.nodes=144", "--set", "scheduling.backfilling=aggressive", "--no-progress"]
FRAME = 1000 / 60
MARKS = ["galerna-data-parsed", "galerna-library-loaded", "galerna-bars-indexed", "galerna-bars-drawn"]

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
  const gaps = {}, work = {};
  let last = null, update = 0;
  await new Promise((done) => {
    let k = 0;
    const frame = (t) => {
      if (last !== null) {                      // the bars of step k - 1 were painted just before this callback
        const phase = plan[k - 1][0];
        (gaps[phase] ||= []).push(t - last);
        (work[phase] ||= []).push(update + tl.paintMs);
      }
      last = t;
      if (k === plan.length) return done();
      const [, a, b] = plan[k++];
      const t0 = performance.now();
      tl.zoomTo(a, b);
      update = performance.now() - t0;
      requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
  });
  return [gaps, work];
}"""


def blue_output() -> Path:
    """The 30-day Blue Horizon output, simulated once and kept for later runs."""
    out = Path(tempfile.gettempdir()) / "galerna-console-bench" / "blue-30days"
    if (out / "summary.json").is_file():
        return out
    if not (SHARED / "30days.swf").is_file():
        sys.exit(f"console_render: no Blue Horizon trace at {SHARED} (set GALERNA_SHARED, or give an OUT_DIR)")
    print(f"simulating the 30-day Blue Horizon workload into {out} (once; a few minutes) ...", flush=True)
    tmp = out.with_name(out.name + ".partial")
    subprocess.run([sys.executable, "-m", "galerna.cli", "simulate", *BLUE_ARGS, "--out", str(tmp)], check=True,
                   stdout=subprocess.DEVNULL, cwd=ROOT)
    tmp.rename(out)
    return out


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def dropped(gaps: list[float]) -> int:
    """Frames missed: a gap of k frame periods shows one new frame where k could have been."""
    return sum(max(0, round(g / FRAME) - 1) for g in gaps)


def one_run(ctx, url: str, steps: int, repeats: int = 1) -> tuple[dict, list[dict]]:
    """A page load (first paint, its marks, the browser's CPU time) and the scripted zoom and pan on that page,
    `repeats` times: the load's figures, and one dict per scripted run."""
    page = ctx.new_page()
    c0 = cpu_seconds(ctx.profile_dir)
    page.goto(url)
    page.wait_for_selector("#timeline[data-drawn]", timeout=120000)
    load_cpu = (cpu_seconds(ctx.profile_dir) - c0) * 1000
    marks = page.evaluate(f"{MARKS}.map((m) => performance.getEntriesByName(m)[0].startTime)")
    drawn = int(page.get_attribute("#timeline", "data-drawn"))
    runs = []
    for _ in range(repeats):
        page.wait_for_timeout(500)
        c0 = cpu_seconds(ctx.profile_dir)
        gaps, work = page.evaluate(SCRIPT, [steps])
        frames = sum(len(g) for g in gaps.values())
        frame_cpu = (cpu_seconds(ctx.profile_dir) - c0) * 1000 / frames
        runs.append({"gaps": gaps, "work": work, "frame_cpu": frame_cpu})
    page.close()
    return {"paint": marks[-1], "marks": marks, "drawn": drawn, "load_cpu": load_cpu}, runs


def cold_load(p, url: str) -> dict:
    """The page's first load in a browser of its own (nothing cached, nothing compiled: Chromium reuses a script
    compiled for one tree's page for the other's, the same ECharts), the browser's own start-up not counted."""
    ctx = launch(p, viewport=(1600, 900))
    try:
        blank = ctx.new_page()
        blank.goto("data:text/html,<script>performance.now()</script>")
        blank.close()
        return one_run(ctx, url, 0, 0)[0]
    finally:
        ctx.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", nargs="?", type=Path, help="a simulation output directory (default: Blue Horizon 30 days)")
    ap.add_argument("--synthetic", type=int, metavar="N", help="a synthetic output of N allocations instead")
    ap.add_argument("--steps", type=int, default=120, help="frames of each zoom/pan phase")
    ap.add_argument("--runs", type=int, default=3, help="page loads, each followed by the zoom and pan")
    ap.add_argument("--repeats", type=int, default=2, help="scripted zoom and pan runs on each page load")
    ap.add_argument("--against", type=Path, metavar="TREE",
                    help="another source tree (e.g. a `git worktree` of main): its `galerna view` is measured too, "
                         "page loads alternating with this tree's, and the ratios printed (fair under load)")
    args = ap.parse_args()
    why = available()
    if why:
        sys.exit(f"console_render: {why}")
    tmp = Path(tempfile.mkdtemp(prefix="galerna-console-bench-"))
    if args.synthetic:
        out = tmp / "synthetic"
        synthetic(out, args.synthetic)
    else:
        out = args.out or blue_output()
    with open(out / "allocations.csv") as fh:
        rows = sum(1 for _ in fh) - 1
    with open(out / "hosts.csv") as fh:
        hosts = sum(1 for _ in fh) - 1
    load0 = os.getloadavg()
    servers = [ViewServer(out, tmp / "view.log")]
    if args.against:
        servers.append(ViewServer(out, tmp / "view-against.log", tree=args.against.resolve()))
    from playwright.sync_api import sync_playwright

    try:
        for srv in servers:
            srv.start()
        with sync_playwright() as p:
            cold = [cold_load(p, srv.url) for srv in servers]
            ctx = launch(p, viewport=(1600, 900))
            for srv in servers:  # an unmeasured first load of each: the measured ones find the page cached
                one_run(ctx, srv.url, 0, 0)
            per_tree = [[] for _ in servers]
            for i in range(args.runs):  # alternating, and which tree goes first too, so that both see the same load
                for k in [(i + j) % len(servers) for j in range(len(servers))]:
                    per_tree[k].append(one_run(ctx, servers[k].url, args.steps, args.repeats))
            ctx.close()
    finally:
        for srv in servers:
            srv.stop()
    load1 = os.getloadavg()
    loads = [[r[0] for r in tree] for tree in per_tree]  # per tree, one entry per page load
    per_tree = [[x for r in tree for x in r[1]] for tree in per_tree]  # per tree, every scripted run
    runs = per_tree[0]
    print(f"output: {out} ({hosts} hosts, {rows} allocations; {loads[0][0]['drawn']} bars drawn at full extent)")
    print(f"load average (1/5/15 min) before: {'/'.join(f'{x:.1f}' for x in load0)}, after: "
          f"{'/'.join(f'{x:.1f}' for x in load1)}, on {os.cpu_count()} cores; viewport 1600x900, --disable-gpu")
    ld = loads[0]
    best = min(ld, key=lambda r: r["paint"])
    print(f"first paint (navigation start to bars drawn), {len(ld)} loads: "
          + ", ".join(f"{r['paint']:.0f} ms" for r in ld) + f"; best {best['paint']:.0f} ms (target < 2000); cold "
          f"(a fresh browser) {cold[0]['paint']:.0f} ms, marks "
          + ", ".join(f"{m.removeprefix('galerna-')} {t:.0f}" for m, t in zip(MARKS, cold[0]["marks"])))
    print("  best load's marks: " + ", ".join(f"{m.removeprefix('galerna-')} {t:.0f} ms" for m, t in zip(MARKS, best["marks"])))
    print(f"browser CPU time (all its processes) per page load: cold {cold[0]['load_cpu']:.0f} ms, then "
          + ", ".join(f"{r['load_cpu']:.0f} ms" for r in ld)
          + "; per zoom/pan frame: " + ", ".join(f"{r['frame_cpu']:.1f} ms" for r in runs))
    print(f"frames (each run: {sum(len(g) for g in runs[0]['gaps'].values())} steps; gaps between animation frames, "
          f"and the page's own work per frame: the zoom call + painting the bars)")
    print(f"{'run':<5}{'phase':<10}{'n':>5}{'p50 ms':>8}{'p95 ms':>8}{'max ms':>8}{'dropped':>9}"
          f"{'work p50':>10}{'work p95':>10}{'work max':>10}")
    for k, r in enumerate(runs, 1):
        phases = [*r["gaps"], "all"]
        for name in phases:
            g = r["gaps"][name] if name != "all" else [x for v in r["gaps"].values() for x in v]
            w = r["work"][name] if name != "all" else [x for v in r["work"].values() for x in v]
            print(f"{k:<5}{name:<10}{len(g):>5}{pct(g, 50):>8.1f}{pct(g, 95):>8.1f}{max(g):>8.1f}{dropped(g):>9}"
                  f"{pct(w, 50):>10.1f}{pct(w, 95):>10.1f}{max(w):>10.1f}")
    summary("this tree", runs, loads[0], cold[0])
    if args.against:
        summary(f"against {args.against}", per_tree[1], loads[1], cold[1])
        compare(runs, per_tree[1], [cold[0], *loads[0]], [cold[1], *loads[1]])


def pooled(runs: list[dict], key: str, phase: str | None = None) -> list[float]:
    return [x for r in runs for name, v in r[key].items() if phase in (None, name) for x in v]


def summary(name: str, runs: list[dict], loads: list[dict], cold: dict) -> None:
    """Every frame of every run pooled; first paint: the cold load apart from the median of the others."""
    g, w = pooled(runs, "gaps"), pooled(runs, "work")
    cpu = sorted(r["frame_cpu"] for r in runs)
    warm = statistics.median(r["paint"] for r in loads)
    print(f"{name}, {len(runs)} runs pooled: frame p50 {pct(g, 50):.1f} / p95 {pct(g, 95):.1f} / max {max(g):.1f} ms, "
          f"{dropped(g)} frames dropped over {len(g)} steps; work p50 {pct(w, 50):.1f} / p95 {pct(w, 95):.1f} / max "
          f"{max(w):.1f} ms; browser CPU per frame {cpu[0]:.1f}-{cpu[-1]:.1f} ms (median "
          f"{statistics.median(cpu):.1f}); first paint cold {cold['paint']:.0f} ms, then median {warm:.0f} ms")


def compare(mine: list[dict], theirs: list[dict], my_loads: list[dict], their_loads: list[dict]) -> None:
    """Ratios of the other tree's figures to this one's, every run pooled (above 1: this tree is faster); the loads:
    the cold one first."""
    print("other tree / this tree, all runs pooled:")
    for phase in ["zoom-in", "pan", "zoom-out", None]:
        a, b = pooled(mine, "gaps", phase), pooled(theirs, "gaps", phase)
        wa, wb = pooled(mine, "work", phase), pooled(theirs, "work", phase)
        print(f"  {phase or 'all':<9} frame p50 {pct(b, 50) / pct(a, 50):.2f}x, p95 {pct(b, 95) / pct(a, 95):.2f}x, "
              f"max {max(b):.1f} vs {max(a):.1f} ms, dropped {dropped(b)} vs {dropped(a)} of {len(a)}; "
              f"work p50 {pct(wb, 50) / pct(wa, 50):.2f}x, "
              f"p95 {pct(wb, 95) / pct(wa, 95):.2f}x")
    cpu = statistics.median(r["frame_cpu"] for r in theirs) / statistics.median(r["frame_cpu"] for r in mine)
    warm = statistics.median(r["paint"] for r in their_loads[1:]) / statistics.median(r["paint"] for r in my_loads[1:])
    print(f"  browser CPU per frame {cpu:.2f}x; first paint median {warm:.2f}x, cold (a fresh browser each) "
          f"{their_loads[0]['paint'] / my_loads[0]['paint']:.2f}x")


if __name__ == "__main__":
    main()
