"""Start-up of `galerna simulate` on a tiny workload (issue 13's target: under 0.25 s), as a user sees it.

Each run is a fresh interpreter doing what the `galerna` console script does (``from galerna.cli import app;
app()``) on a two-lease LWF trace, writing its output directory, and then ``galerna --help``. Prints the wall time
and the process CPU time (best and median of N runs after one warm-up), the load average before and after, then
the imports that cost most, from one ``-X importtime`` run: the modules imported directly by the command
(cumulative, children included) and the slowest modules by their own time. Times from ``-X importtime`` are
inflated by the tracing itself; read them as proportions.

The children start as an installed `galerna` does: with bytecode caching. The shell of the development machines
exports PYTHONDONTWRITEBYTECODE=1, under which every start compiles every module again (0.65 s instead of 0.25 s);
the children get no PYTHONDONTWRITEBYTECODE and a PYTHONPYCACHEPREFIX in a temporary directory, filled by the
untimed warm-up run, so the checkouts are left as they are.

``--against REV`` also runs the code of git revision REV (a worktree in a temporary directory), alternating
with this tree's, and prints the ratio of the medians. ``--callgrind`` counts the instructions of one start of
each tree under valgrind's callgrind instead (the same count on a loaded machine as on an idle one, so an A/B
on a machine shared with other jobs still means something; about 50 times slower than a plain run).

Usage: python benchmarks/startup.py [--runs N] [--top K] [--trace FILE] [--against REV] [--callgrind]
"""
from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TINY = Path("/work/shared/data/haizea-traces/tests/preemption.lwf")
FALLBACK_TINY = """<?xml version="1.0"?>
<lease-workload name="startup-tiny">
  <site><resource-types names="CPU Memory"/><nodes><node-set numnodes="4">
    <res type="CPU" amount="100"/><res type="Memory" amount="1024"/></node-set></nodes></site>
  <lease-requests>
    <lease-request arrival="00:00:00.00"><lease id="1" preemptible="true">
      <nodes><node-set numnodes="1"><res amount="100" type="CPU"/><res amount="1024" type="Memory"/></node-set></nodes>
      <start/><duration time="01:00:00.00"/><software><disk-image id="a.img" size="1024"/></software>
    </lease></lease-request>
  </lease-requests>
</lease-workload>
"""
# What the `galerna` console script runs (pyproject's [project.scripts]); works for old revisions too.
CONSOLE_SCRIPT = "import sys; sys.argv[0] = 'galerna'; from galerna.cli import app; app()"


def command(trace: Path, out: Path) -> list[str]:
    return [sys.executable, "-c", CONSOLE_SCRIPT, "simulate", str(trace), "--out", str(out)]


def help_command() -> list[str]:
    return [sys.executable, "-c", CONSOLE_SCRIPT, "--help"]


def child_env(tree: Path, pycache: Path) -> dict[str, str]:
    """The environment of a timed child: bytecode cached (in ``pycache``), galerna imported from ``tree``."""
    env = dict(os.environ, PYTHONPATH=str(tree), COLUMNS="100", PYTHONPYCACHEPREFIX=str(pycache))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def one_run(tree: Path, cmd: list[str], pycache: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of one `galerna` process (``cmd``) importing galerna from ``tree``."""
    env = child_env(tree, pycache)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=tree, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[3:])} failed with the code of {tree}:\n{proc.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def figures(samples: list[tuple[float, float]]) -> str:
    walls, cpus = [s[0] for s in samples], [s[1] for s in samples]
    return (f"wall best {min(walls):.3f} s, median {statistics.median(walls):.3f} s; "
            f"CPU best {min(cpus):.3f} s, median {statistics.median(cpus):.3f} s")


def instructions(tree: Path, cmd: list[str], pycache: Path, tmp: Path) -> int:
    """Instructions executed by one start of ``cmd`` under callgrind (all threads; the hash seed fixed)."""
    env = dict(child_env(tree, pycache), PYTHONHASHSEED="0")
    vg = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp / 'callgrind.out'}"]
    proc = subprocess.run([*vg, *cmd], env=env, cwd=tree, capture_output=True, text=True)
    found = re.search(r"Collected : (\d+)", proc.stderr)
    if proc.returncode != 0 or not found:
        raise SystemExit(f"callgrind run failed with the code of {tree}:\n{proc.stderr[-3000:]}")
    return int(found.group(1))


def print_load(when: str) -> None:
    print("load average {}: {:.2f} {:.2f} {:.2f} (1, 5, 15 min) on {} cores".format(when, *os.getloadavg(),
                                                                                  os.cpu_count()))


def import_times(tree: Path, trace: Path, out: Path, pycache: Path) -> list[tuple[int, int, int, str]]:
    """(self µs, cumulative µs, depth, module) for every import of one run, from ``-X importtime``."""
    env = child_env(tree, pycache)
    cmd = command(trace, out)
    proc = subprocess.run([cmd[0], "-X", "importtime", *cmd[1:]], env=env, cwd=tree, capture_output=True, text=True)
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, total, name = line[len("import time:"):].split("|")
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        rows.append((int(own), int(total), depth, name.strip()))
    return rows


def print_top_imports(rows: list[tuple[int, int, int, str]], top: int) -> None:
    print(f"\n{len(rows)} modules imported; {sum(r[0] for r in rows) / 1e3:.0f} ms of import time under -X importtime")
    print(f"top {top} imported by the command itself (cumulative):")
    for own, total, _, name in sorted((r for r in rows if r[2] == 0), key=lambda r: -r[1])[:top]:
        print(f"  {total / 1e3:8.1f} ms  {name}")
    print(f"top {top} by own time:")
    for own, total, _, name in sorted(rows, key=lambda r: -r[0])[:top]:
        print(f"  {own / 1e3:8.1f} ms  {name}")


def worktree(rev: str, tmp: Path) -> Path:
    old = tmp / "rev"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(old), rev], check=True)
    if (old / "setup.py").exists():  # REV has a compiled core: build it in its worktree
        subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"], cwd=old, check=True,
                       capture_output=True)
    return old


def timed(trees: dict[str, Path], cmds: dict[str, list[str]], runs: int, pycache: Path) -> None:
    """Alternate the trees run by run; print each command's figures per tree and the ratios against REV."""
    samples = {(c, t): [] for c in cmds for t in trees}
    for _ in range(runs):
        for c, cmd in cmds.items():
            for name, tree in trees.items():
                samples[c, name].append(one_run(tree, cmd, pycache))
    for c in cmds:
        print(f"galerna {c}: {runs} runs per tree")
        for name in trees:
            print(f"  {name:<12} {figures(samples[c, name])}")
        if len(trees) > 1:
            a, (rev, _) = samples[c, "this tree"], list(trees.items())[1]
            for i, what in enumerate(("wall", "CPU")):
                ratio = statistics.median(x[i] for x in samples[c, rev]) / statistics.median(x[i] for x in a)
                print(f"  {rev}/this tree, median {what}: {ratio:.2f}x")


def counted(trees: dict[str, Path], cmds: dict[str, list[str]], pycache: Path, tmp: Path) -> None:
    """One callgrind run per command and tree: instructions, and the ratio against REV."""
    if shutil.which("valgrind") is None:
        print("--callgrind: valgrind is not installed (apt-get install valgrind); no instruction counts")
        return
    for c, cmd in cmds.items():
        counts = {name: instructions(tree, cmd, pycache, tmp) for name, tree in trees.items()}
        print(f"galerna {c}: instructions under callgrind (one run per tree)")
        for name, n in counts.items():
            print(f"  {name:<12} {n / 1e6:,.0f} M")
        if len(trees) > 1:
            rev = list(trees)[1]
            print(f"  {rev}/this tree: {counts[rev] / counts['this tree']:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10, help="counted runs per tree (after one warm-up)")
    ap.add_argument("--top", type=int, default=12, help="how many imports to list")
    ap.add_argument("--trace", type=Path, help="the tiny workload (default: Haizea's preemption.lwf test trace)")
    ap.add_argument("--against", metavar="REV", help="also run the code of git revision REV, alternating")
    ap.add_argument("--callgrind", action="store_true", help="count instructions under callgrind instead of timing")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="galerna-startup-") as tmp_name:
        tmp = Path(tmp_name)
        trace = args.trace or TINY
        if not trace.exists():
            trace = tmp / "tiny.lwf"
            trace.write_text(FALLBACK_TINY)
        out, pycache = tmp / "out", tmp / "pycache"
        cmds = {f"simulate {trace.name} --out DIR": command(trace, out), "--help": help_command()}
        trees = {"this tree": ROOT}
        if args.against:
            trees[args.against] = worktree(args.against, tmp)
        try:
            print_load("before")
            for tree in trees.values():
                for cmd in cmds.values():
                    one_run(tree, cmd, pycache)  # warm-up: the page cache and the .pyc files
            if args.callgrind:
                counted(trees, cmds, pycache, tmp)
            else:
                timed(trees, cmds, args.runs, pycache)
            print_load("after")
            print_top_imports(import_times(ROOT, trace, out, pycache), args.top)
        finally:
            if args.against:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(trees[args.against])],
                               check=False)


if __name__ == "__main__":
    main()
