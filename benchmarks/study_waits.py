"""Best-effort waits and AR acceptance of a sweep's runs, per profile, and variant against base.

Reads every finished run of a sweep output directory (``OUT/runs/<id>/leases.csv`` and
``summary.json``, as ``galerna sweep`` writes them) and prints, per profile and group of
injections (the trace alone, and the rest), the means over the runs of: the best-effort
mean, p99 (nearest rank) and longest wait, the most preemptions of one lease, and the AR
acceptance. A profile named ``BASE-VARIANT`` (``nosusp-noaging``) is also compared run by run
with ``BASE`` on the injections both have: how many runs differ, and the mean of each figure
in both. Made for ``studies/hpdc2008-variants.toml`` (issue 14: aging and re-binding off and
on), but any sweep works.

  python benchmarks/study_waits.py OUT [--markdown]
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path

FIGURES = ("mean_wait", "p99_wait", "max_wait", "most_preemptions", "ar_acceptance", "all_best_effort")


def run_figures(run: Path) -> dict[str, float] | None:
    """The figures of one finished run (None while it is unfinished)."""
    if not (run / "summary.json").is_file() or not (run / "leases.csv").is_file():
        return None
    summary = json.loads((run / "summary.json").read_text())
    with open(run / "leases.csv", newline="") as f:
        waits = sorted(float(r["wait"]) for r in csv.DictReader(f)
                       if r["type"] == "be" and r["state"] == "done" and r["wait"] != "")
    p99 = waits[max(0, math.ceil(0.99 * len(waits)) - 1)] if waits else 0.0
    ar = summary.get("ar_requested", 0)
    return {
        "mean_wait": sum(waits) / len(waits) if waits else 0.0,
        "p99_wait": p99,
        "max_wait": waits[-1] if waits else 0.0,
        "most_preemptions": float(summary.get("most_preemptions", 0)),
        "ar_acceptance": summary.get("ar_accepted", 0) / ar if ar else math.nan,
        "all_best_effort": float(summary.get("all_best_effort", 0.0)),
        "digest": hash((tuple(waits), summary.get("ar_accepted"), summary.get("all_best_effort"))),
    }


def load(out: Path) -> dict[str, dict[str, dict]]:
    """profile -> injection -> figures, from the run ids ``PROFILE--TRACE--INJECTION``."""
    runs: dict[str, dict[str, dict]] = {}
    for run in sorted((out / "runs").iterdir()):
        parts = run.name.split("--")
        if len(parts) != 3:
            continue
        fig = run_figures(run)
        if fig is not None:
            runs.setdefault(parts[0], {})[parts[2]] = fig
    return runs


def mean(values: list[float]) -> float:
    values = [v for v in values if not math.isnan(v)]
    return sum(values) / len(values) if values else math.nan


def fmt(key: str, v: float) -> str:
    if math.isnan(v):
        return "—"
    if key == "ar_acceptance":
        return f"{100 * v:.1f} %"
    if key == "most_preemptions":
        return f"{v:.1f}"
    return f"{v:,.0f}"


def table(header: list[str], rows: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(x) for x in col) for col in zip(header, *rows)]
    return "\n".join("  ".join(x.rjust(w) for x, w in zip(r, widths)) for r in [header, *rows])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path, help="a sweep's output directory")
    ap.add_argument("--markdown", action="store_true", help="print Markdown tables")
    args = ap.parse_args(argv)
    if not (args.out / "runs").is_dir():
        print(f"{args.out}: no runs/ directory: not a sweep's output", file=sys.stderr)
        return 2
    runs = load(args.out)
    header = ["profile", "runs", "mean wait", "p99 wait", "longest wait", "most preemptions", "AR acceptance",
              "last BE end"]
    rows = []
    for profile, by_inj in runs.items():
        with_ar = [f for inj, f in by_inj.items() if inj != "none"]
        if "none" in by_inj:
            rows.append([f"{profile}, no ARs", "1"] + [fmt(k, by_inj["none"][k]) for k in FIGURES])
        if with_ar:
            rows.append([f"{profile}, with ARs", str(len(with_ar))]
                        + [fmt(k, mean([f[k] for f in with_ar])) for k in FIGURES])
    print("Per profile (with ARs: means over the injection files)\n")
    print(table(header, rows, args.markdown))
    pairs = []
    for profile, by_inj in runs.items():
        base = next((b for b in runs if b != profile and profile.startswith(b + "-")), None)
        if base is None:
            continue
        common = sorted(set(by_inj) & set(runs[base]) - {"none"})
        if not common:
            continue
        differ = sum(1 for i in common if by_inj[i]["digest"] != runs[base][i]["digest"])
        row = [f"{profile} → {base}", f"{len(common)} ({differ} differ)"]
        for k in ("mean_wait", "p99_wait", "max_wait", "ar_acceptance"):
            row.append(f"{fmt(k, mean([by_inj[i][k] for i in common]))} → {fmt(k, mean([runs[base][i][k] for i in common]))}")
        pairs.append(row)
    if pairs:
        print("\nVariant → base, on the injection files both finished (means over them)\n")
        print(table(["variant → base", "runs", "mean wait", "p99 wait", "longest wait", "AR acceptance"],
                    pairs, args.markdown))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
