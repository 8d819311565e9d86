"""Simulator throughput on Blue Horizon, 30 days, 144 nodes (1 CPU, 1024 MB each).

(a) the trace + work_20-dur_3h-size_2medium.lwf, conservative backfilling, suspension on
    (target: under 3 s on a 2-core machine);
(b) the trace with every submit time multiplied by 0.35 — thousands queued at once —
    conservative backfilling (target: >= 5,000 leases/s);
(trace) the trace alone, conservative backfilling, suspension on (only with --against
    or --only trace).

Prints leases, wall and CPU seconds of the simulation itself (not the interpreter's start-up,
the imports or reading the trace), leases per second and the largest queue for each, the
core's counters (``LeaseScheduler.stats``): rounds, compression filter hits, re-plans, moves,
and the machine's load average.

``GALERNA_BENCH_REBIND=off`` sets ``scheduling.rebind = false`` in every workload (when the
tree's configuration has that option): a core from before issue 14 (such as 73afa22, the core
before issue 13) has no re-binding, so only with it off do both trees compute the same schedules.

``--against REV`` checks REV out as a git worktree under a temporary directory and runs
every workload twice, once with this tree's code and once with REV's, each in its own
subprocess with that tree first on PYTHONPATH, alternating A and B so that a change of
machine load hits both alike; it prints both wall and CPU times and the ratios REV/this
(the CPU ratio is the one to trust on a shared machine). The workloads
are defined here, so REV needs only the same simulator entry points; a REV with a compiled
core (a setup.py) has it built in its worktree first.

Usage: python benchmarks/simulator_throughput.py [--only a|b|trace] [--against REV] [--repeat N]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# As `galerna` does (galerna/cli.py), before numpy is imported, here and in the --against subprocesses (which
# inherit it): OpenBLAS's idle threads otherwise spin on the other core and count in the process's CPU time.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
TRACES = ROOT.parent / "shared" / "data" / "haizea-traces" / "blue"
SITE = {"nodes": 144, "cpu": 1, "memory": 1024}
WORKLOADS = {
    "a": ("(a) 30 days + 20% ARs, conservative, suspend", "target < 3 s"),
    "b": ("(b) 30 days, submit x 0.35, conservative", "target >= 5000 leases/s"),
    "trace": ("(trace) 30 days alone, conservative, suspend", ""),
}


def rebind_off(cfg):
    """``cfg`` with re-binding off if GALERNA_BENCH_REBIND=off and the tree's core has the option."""
    if os.environ.get("GALERNA_BENCH_REBIND", "").lower() not in ("off", "0", "false", "no"):
        return cfg
    if "rebind" not in type(cfg.scheduling).model_fields:
        return cfg  # a core from before re-binding: nothing to turn off
    return cfg.model_copy(update={"scheduling": cfg.scheduling.model_copy(update={"rebind": False})})


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


def build(name: str):
    """The requests and configuration of workload ``name``, with whatever galerna is importable."""
    requests, cfg = _build(name)
    return requests, rebind_off(cfg)


def _build(name: str):
    from galerna.config.schema import Config
    from galerna.readers import inject, load_workload

    trace = load_workload(TRACES / "30days.swf")
    if name == "a":
        w = inject(trace, TRACES / "injected_leases" / "30days" / "work_20-dur_3h-size_2medium.lwf")
        cfg = Config.model_validate({"site": SITE, "scheduling": {"backfilling": "conservative", "suspension": "all"}})
        return w.requests, cfg
    if name == "b":
        squeezed = [dataclasses.replace(r, submit=r.submit * 0.35) for r in trace.requests]
        return squeezed, Config.model_validate({"site": SITE, "scheduling": {"backfilling": "conservative"}})
    cfg = Config.model_validate({"site": SITE, "scheduling": {"backfilling": "conservative", "suspension": "all"}})
    return trace.requests, cfg


def measure(name: str) -> dict:
    """Run workload ``name`` once; its figures (wall and CPU seconds of the simulation alone)."""
    from galerna.sim.engine import Simulation
    from galerna.sim.run import site_from_config

    requests, cfg = build(name)
    sim = Simulation(site_from_config(cfg), cfg, requests)
    t0, c0 = time.perf_counter(), time.process_time()
    result = sim.run()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    out = {"leases": len(requests), "wall": wall, "cpu": cpu, "peak": max(q for _, q in result.queue)}
    st = getattr(getattr(sim, "core", None), "stats", None)  # older cores have no counters
    if st is not None:
        out["stats"] = (f"{st.rounds} rounds placing {st.placed}; {st.compressions} compressions: {st.filter_hits} "
                        f"reservations ruled out unsearched, {st.replans} re-planned, {st.moves} moved; "
                        f"{st.preemptions} preempted")
    return out


def report(name: str, m: dict) -> None:
    title, target = WORKLOADS[name]
    n, wall, cpu = m["leases"], m["wall"], m["cpu"]
    print(f"{title:<48} {n:>6} leases {wall:8.2f} s ({cpu:.2f} s CPU) {n / wall:10.0f} leases/s  "
          f"max queue {m['peak']:>5}  ({target})")
    if "stats" in m:
        print(f"{'':<48} {m['stats']}")


def in_subprocess(tree: Path, name: str) -> dict:
    """``measure(name)`` in a fresh interpreter importing galerna from ``tree``."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    proc = subprocess.run([sys.executable, __file__, "--measure", name], env=env, cwd=tree,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"workload {name} failed with the code of {tree}:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def against(rev: str, names: list[str], repeat: int) -> None:
    with tempfile.TemporaryDirectory(prefix="galerna-against-") as tmp:
        old = Path(tmp) / "rev"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(old), rev], check=True)
        try:
            head = subprocess.run(["git", "-C", str(old), "rev-parse", "--short", "HEAD"],
                                  capture_output=True, text=True, check=True).stdout.strip()
            if (old / "setup.py").exists():  # REV has a compiled core: build it in its worktree
                subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"], cwd=old, check=True,
                               capture_output=True)
            rb = "off" if os.environ.get("GALERNA_BENCH_REBIND", "").lower() in (
                "off", "0", "false", "no") else "as configured"
            print(f"A = this tree ({ROOT}), B = {rev} ({head}); best of {repeat}, A and B alternating; "
                  f"rebind {rb}; {load()}")
            for name in names:
                a, b = [], []
                for _ in range(repeat):
                    a.append(in_subprocess(ROOT, name))
                    b.append(in_subprocess(old, name))
                ta, tb = min(x["wall"] for x in a), min(x["wall"] for x in b)
                ca, cb = min(x["cpu"] for x in a), min(x["cpu"] for x in b)
                n = a[0]["leases"]
                print(f"{WORKLOADS[name][0]:<48} {n:>6} leases  wall A {ta:8.2f} s B {tb:8.2f} s B/A {tb / ta:6.2f}x"
                      f"  CPU A {ca:8.2f} s B {cb:8.2f} s B/A {cb / ca:6.2f}x  ({load()})", flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)], check=False)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=sorted(WORKLOADS))
    ap.add_argument("--against", metavar="REV", help="also run the code of git revision REV and print the ratio")
    ap.add_argument("--repeat", type=int, default=1, help="with --against: runs per side, the best one counts")
    ap.add_argument("--measure", choices=sorted(WORKLOADS), help=argparse.SUPPRESS)  # one run, JSON out
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return
    if args.against:
        names = [args.only] if args.only else ["a", "b", "trace"]
        against(args.against, names, args.repeat)
        return
    print(load())
    for name in [args.only] if args.only else ["a", "b"]:
        report(name, measure(name))


if __name__ == "__main__":
    main()
