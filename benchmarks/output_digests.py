"""Digests of simulation outputs, to prove that a change meant to keep behaviour kept it.

Runs a fixed set of workloads and prints one sha256 per output file (`leases.csv`,
`allocations.csv`, and `summary.json` without its `wall_seconds`), one line per run:

  demo        the embedded default workload (`make demo`)
  trace       Blue Horizon 30 days alone, conservative, suspension on
  a, b        benchmark (a) and (b) of simulator_throughput.py
  <profile>   one run of each HPDC 2008 study profile, with one AR injection

Usage:
  python benchmarks/output_digests.py [--only demo,trace,...] [--out FILE]
  python benchmarks/output_digests.py --compare OLD NEW      (two files written by --out)

Compare a change by running it before and after (`--out before.txt`, `--out after.txt`) and
`--compare`; every line must be equal.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "haizea-traces"
BLUE = SHARED / "blue"
SITE = {"nodes": 144, "cpu": 1, "memory": 1024}
INJECTION = BLUE / "injected_leases" / "30days" / "work_20-dur_3h-size_2medium.lwf"
STUDY_INJECTION = BLUE / "injected_leases" / "30days" / "work_10-dur_2h-size_1small.lwf"
PROFILES = ["nosusp", "susp50", "vm-predeployed", "vm-transfer", "vm-reuse"]
RUNS = ["demo", "trace", "a", "b", *PROFILES]


def digest_dir(out: Path) -> dict[str, str]:
    d = {}
    for name in ("leases.csv", "allocations.csv"):
        d[name] = hashlib.sha256((out / name).read_bytes()).hexdigest()[:16]
    summary = json.loads((out / "summary.json").read_text())
    summary.pop("wall_seconds", None)
    d["summary.json"] = hashlib.sha256(json.dumps(summary, sort_keys=True).encode()).hexdigest()[:16]
    return d


def _write(result, out: Path) -> None:
    from galerna.sim.metrics import summarize
    from galerna.sim.output import write_output

    write_output(result, summarize(result, 0.0), out)


def run_one(name: str, out: Path) -> None:
    from galerna.config.schema import Config
    from galerna.readers import inject, load_workload
    from galerna.sim.engine import Simulation
    from galerna.sim.run import prepare, site_from_config

    if name == "demo":
        _write(prepare(None, Config()).run(), out)
        return
    if name in PROFILES:
        from galerna.sweep.spec import load_sweep

        spec = load_sweep(ROOT / "studies" / "hpdc2008.toml")
        cfg = Config.model_validate(spec.profile_config(name))
        _write(prepare(BLUE / "30days.swf", cfg, [STUDY_INJECTION]).run(), out)
        return
    trace = load_workload(BLUE / "30days.swf")
    if name == "trace":
        cfg = Config.model_validate({"site": SITE, "scheduling": {"backfilling": "conservative", "suspension": "all"}})
        requests = trace.requests
    elif name == "a":
        cfg = Config.model_validate({"site": SITE, "scheduling": {"backfilling": "conservative", "suspension": "all"}})
        requests = inject(trace, INJECTION).requests
    elif name == "b":
        cfg = Config.model_validate({"site": SITE, "scheduling": {"backfilling": "conservative"}})
        requests = [dataclasses.replace(r, submit=r.submit * 0.35) for r in trace.requests]
    else:
        raise SystemExit(f"unknown run {name!r}; choose from {', '.join(RUNS)}")
    _write(Simulation(site_from_config(cfg), cfg, requests).run(), out)


def compare(old: Path, new: Path) -> int:
    a = dict(line.split(" ", 1) for line in old.read_text().splitlines() if line.strip())
    b = dict(line.split(" ", 1) for line in new.read_text().splitlines() if line.strip())
    bad = 0
    for k in sorted(set(a) | set(b), key=lambda k: RUNS.index(k) if k in RUNS else 99):
        same = a.get(k) == b.get(k)
        bad += not same
        print(f"{'same' if same else 'DIFFERENT':<10} {k:<16} {b.get(k, a.get(k))}")
    print(f"{len(set(a) | set(b)) - bad} same, {bad} different")
    return 1 if bad else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", help="comma-separated subset of " + ",".join(RUNS))
    ap.add_argument("--out", type=Path, help="also write the lines to this file")
    ap.add_argument("--compare", nargs=2, type=Path, metavar=("OLD", "NEW"))
    args = ap.parse_args()
    if args.compare:
        return compare(*args.compare)
    names = args.only.split(",") if args.only else RUNS
    lines = []
    for name in names:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            run_one(name, Path(tmp))
            d = digest_dir(Path(tmp))
            line = f"{name} " + " ".join(f"{k}={v}" for k, v in d.items())
            print(f"{line}   ({time.perf_counter() - t0:.1f} s)", flush=True)
            lines.append(line)
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
