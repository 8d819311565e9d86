"""Issue 14 §5's comparison: Galerna's backfilling with and without re-binding, against plain EASY.

The 30-day Blue Horizon trace, 144 nodes of 1 CPU, no ARs, no suspension, every
status-5 job left out (``swf_cancelled = "drop"``, the rule the issue's figures
used). For aggressive and conservative backfilling, each with
``scheduling.rebind`` off and on, it prints the best-effort mean, p99 and longest
wait, the last end and the number of reservations re-bound, then EASY's
(``easy_backfill.py``) on the same jobs. With ``--out DIR`` each Galerna run's
output is kept in ``DIR/<name>`` (check it with ``../shared/tools/check_schedule.py``).

  python benchmarks/rebind_figures.py [--only aggressive-on,...] [--cancelled drop|drop-unstarted] [--out DIR]

``--study PROFILE FILE.lwf...`` runs instead the HPDC 2008 study's profile (``studies/hpdc2008.toml``, its own
backfilling and trace rules) with each AR injection file, option off and on, and prints the best-effort mean,
p99 and longest wait, the last best-effort end and the ARs accepted.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from easy_backfill import BLUE, easy_schedule, figures, jobs_of  # noqa: E402

RUNS = [f"{mode}-{on}" for mode in ("aggressive", "conservative") for on in ("off", "on")]


def galerna_run(name: str, cancelled: str, out: Path) -> dict[str, float]:
    from galerna.config.schema import Config
    from galerna.model.lease import LeaseType
    from galerna.model.state import LeaseState
    from galerna.sim.run import prepare
    from galerna.sim.metrics import summarize
    from galerna.sim.output import write_output

    mode, on = name.split("-")
    cfg = Config.model_validate({
        "site": {"nodes": 144, "cpu": 1, "memory": 1024},
        "trace": {"swf_cancelled": cancelled},
        "scheduling": {"backfilling": mode, "suspension": "none", "rebind": on == "on"},
    })
    sim = prepare(BLUE / "30days.swf", cfg)
    result = sim.run()
    write_output(result, summarize(result, 0.0), out)
    done = [L for L in result.leases if L.type is LeaseType.BE and L.state is LeaseState.DONE]
    f = figures([L.first_run() - L.req.submit for L in done], [L.last_run_end() for L in done])
    f["rebinds"] = sim.core.stats.rebinds
    return f


def study_run(profile: str, injection: Path, on: bool) -> dict[str, float]:
    from galerna.config.schema import Config
    from galerna.model.lease import LeaseType
    from galerna.model.state import LeaseState
    from galerna.sim.run import prepare
    from galerna.sweep.spec import load_sweep

    spec = load_sweep(Path(__file__).resolve().parents[1] / "studies" / "hpdc2008.toml")
    raw = spec.profile_config(profile)
    raw.setdefault("scheduling", {})["rebind"] = on
    sim = prepare(BLUE / "30days.swf", Config.model_validate(raw), [injection])
    result = sim.run()
    done = [L for L in result.leases if L.type is LeaseType.BE and L.state is LeaseState.DONE]
    ars = [L for L in result.leases if L.type is LeaseType.AR]
    f = figures([L.first_run() - L.req.submit for L in done], [L.last_run_end() for L in done])
    f["ar_accepted"] = sum(L.state is not LeaseState.REJECTED for L in ars) / len(ars) if ars else 1.0
    f["rebinds"] = sim.core.stats.rebinds
    return f


def line(name: str, f: dict[str, float], secs: float) -> str:
    extra = f"  re-bound {f['rebinds']:>5,}" if "rebinds" in f else ""
    return (f"{name:<34} mean wait {f['mean_wait']:>7,.0f} s  p99 {f['p99_wait']:>7,.0f} s  longest {f['max_wait']:>7,.0f} s"
            f"  last end {f['last_end']:>10,.0f} s{extra}   ({secs:.0f} s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", help="comma-separated subset of " + ",".join(RUNS + ["easy"]))
    ap.add_argument("--cancelled", choices=["drop", "drop-unstarted"], default="drop")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--study", nargs="+", metavar="PROFILE FILE.lwf", help="a study profile and AR injection files")
    args = ap.parse_args()
    if args.study:
        profile, *files = args.study
        for f in files:
            for on in (False, True):
                t0 = time.perf_counter()
                fig = study_run(profile, Path(f), on)
                print(line(f"{Path(f).stem} {'on' if on else 'off'}", fig, time.perf_counter() - t0)
                      + f"  ARs accepted {fig['ar_accepted']:.0%}", flush=True)
        return
    names = args.only.split(",") if args.only else RUNS + ["easy"]
    for name in names:
        t0 = time.perf_counter()
        if name == "easy":
            ran = easy_schedule(jobs_of(BLUE / "30days.swf", args.cancelled), 144)
            f = figures([r.wait for r in ran], [r.end for r in ran])
        elif args.out:
            f = galerna_run(name, args.cancelled, args.out / name)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                f = galerna_run(name, args.cancelled, Path(tmp))
        print(line(name, f, time.perf_counter() - t0), flush=True)


if __name__ == "__main__":
    main()
