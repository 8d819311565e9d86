"""The results table of a sweep: one row per run, written as CSV and Parquet, and its headline.

No pandas: rows are plain dicts, columns are typed explicitly for Parquet.
"""
from __future__ import annotations

import csv
import json
import math
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable

RESULTS_CSV = "results.csv"
RESULTS_PARQUET = "results.parquet"
HEADLINE_CSV = "headline.csv"
HEADLINE_MD = "headline.md"

# Columns that describe a run; metrics follow them.
LEAD_COLUMNS = [
    "run_id",
    "profile",
    "trace",
    "injection",
    "ar_share",
    "ar_duration_h",
    "ar_size",
    "status",
    "error",
    "run_wall_seconds",
    "cached",
    "all_best_effort_rel",
    "ar_acceptance",
]
TAIL_COLUMNS = ["trace_path", "injection_paths", "out_dir"]
STRING_COLUMNS = {"run_id", "profile", "trace", "injection", "ar_size", "status", "error", *TAIL_COLUMNS}

# The headline: (column in the results table, heading, format)
HEADLINE_METRICS = [
    ("all_best_effort_rel", "BE completion (rel. to no AR)", "{:.3f}"),
    ("mean_wait", "mean wait (s)", "{:,.0f}"),
    ("mean_bounded_slowdown", "mean bounded slowdown", "{:.2f}"),
    ("ar_acceptance", "AR acceptance", "{:.1%}"),
]


def flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    """Scalars of a (nested) summary dict, with dotted keys; lists and series are left out."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        elif v is None or isinstance(v, (bool, int, float, str)):
            out[key] = v
    return out


def _num(x: Any) -> float | None:
    if x is None or x == "" or isinstance(x, bool):
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def add_derived(rows: list[dict]) -> list[dict]:
    """AR acceptance, and the completion time of all best-effort work relative to the run of the
    same profile and trace without injected leases (1.0 = the ARs cost the best-effort work nothing)."""
    baseline: dict[tuple, float] = {}
    for r in rows:
        if r.get("status") == "done" and not r.get("injection_paths"):
            v = _num(r.get("all_best_effort"))
            if v:
                baseline[(r["profile"], r["trace"])] = v
    for r in rows:
        req, acc = _num(r.get("ar_requested")), _num(r.get("ar_accepted"))
        r["ar_acceptance"] = acc / req if req and acc is not None else None
        base = baseline.get((r.get("profile"), r.get("trace")))
        v = _num(r.get("all_best_effort"))
        r["all_best_effort_rel"] = v / base if base and v is not None and r.get("status") == "done" else None
    return rows


def order_columns(rows: list[dict]) -> list[str]:
    seen: dict[str, None] = {}
    for r in rows:
        for k in r:
            seen.setdefault(k, None)
    lead = [c for c in LEAD_COLUMNS if c in seen]
    tail = [c for c in TAIL_COLUMNS if c in seen]
    middle = [c for c in seen if c not in lead and c not in tail]
    return lead + middle + tail


def _column_type(values: list[Any]) -> str:
    kinds = {type(v) for v in values if v is not None and v != ""}
    if not kinds:
        return "float"
    if kinds <= {bool}:
        return "bool"
    if kinds <= {int}:
        return "int"
    if kinds <= {int, float}:
        return "float"
    return "str"


def write_table(rows: list[dict], out_dir: Path) -> tuple[Path, Path]:
    """results.csv and results.parquet in ``out_dir``; rows sorted by profile, AR share, run id."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = sorted(rows, key=lambda r: (str(r.get("profile")), _num(r.get("ar_share")) or 0.0, str(r.get("run_id"))))
    cols = order_columns(rows)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, pq_path = out_dir / RESULTS_CSV, out_dir / RESULTS_PARQUET
    tmp = csv_path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({c: ("" if r.get(c) is None else r.get(c)) for c in cols})
    tmp.replace(csv_path)

    arrays, fields = [], []
    for c in cols:
        values = [r.get(c) for r in rows]
        kind = _column_type(values)
        if kind == "bool":
            arrays.append(pa.array([None if v in (None, "") else bool(v) for v in values], pa.bool_()))
        elif kind == "int":
            arrays.append(pa.array([None if v in (None, "") else int(v) for v in values], pa.int64()))
        elif kind == "float":
            arrays.append(pa.array([_num(v) for v in values], pa.float64()))
        else:
            arrays.append(pa.array([None if v is None else str(v) for v in values], pa.string()))
        fields.append(c)
    table = pa.Table.from_arrays(arrays, names=fields)
    tmpq = pq_path.with_suffix(".parquet.tmp")
    pq.write_table(table, tmpq)
    tmpq.replace(pq_path)
    return csv_path, pq_path


def read_table(sweep_dir: Path) -> list[dict]:
    """The rows of a sweep's results table, numbers as floats (Parquet when present, else CSV)."""
    sweep_dir = Path(sweep_dir)
    pq_path = sweep_dir / RESULTS_PARQUET
    if pq_path.exists():
        import pyarrow.parquet as pq

        return pq.read_table(pq_path).to_pylist()
    rows = []
    with open(sweep_dir / RESULTS_CSV, newline="") as f:
        for r in csv.DictReader(f):
            row: dict[str, Any] = {}
            for k, v in r.items():
                if v == "":
                    row[k] = None
                elif k in STRING_COLUMNS or _num(v) is None:
                    row[k] = {"True": True, "False": False}.get(v, v)
                else:
                    row[k] = _num(v)
            rows.append(row)
    return rows


def headline(rows: Iterable[dict]) -> list[dict]:
    """Per profile and AR share: the mean of each headline metric over the finished runs."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    order: list[str] = []
    for r in rows:
        if r.get("status") != "done":
            continue
        if r["profile"] not in order:
            order.append(r["profile"])
        groups[(r["profile"], _num(r.get("ar_share")) or 0.0)].append(r)
    out = []
    for (profile, share), rs in sorted(groups.items(), key=lambda kv: (order.index(kv[0][0]), kv[0][1])):
        row: dict[str, Any] = {"profile": profile, "ar_share": share, "runs": len(rs)}
        for col, _, _ in HEADLINE_METRICS:
            vals = [v for v in (_num(r.get(col)) for r in rs) if v is not None]
            row[col] = statistics.fmean(vals) if vals else None
        out.append(row)
    return out


def headline_markdown(head: list[dict]) -> str:
    heads = ["profile", "AR share", "runs"] + [h for _, h, _ in HEADLINE_METRICS]
    lines = ["| " + " | ".join(heads) + " |", "|" + "|".join(["---"] + ["---:"] * (len(heads) - 1)) + "|"]
    for r in head:
        cells = [str(r["profile"]), f"{r['ar_share']:g} %", str(r["runs"])]
        for col, _, fmt in HEADLINE_METRICS:
            v = r.get(col)
            cells.append("–" if v is None else fmt.format(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_headline(rows: list[dict], out_dir: Path) -> list[dict]:
    head = headline(rows)
    with open(out_dir / HEADLINE_CSV, "w", newline="") as f:
        cols = ["profile", "ar_share", "runs"] + [c for c, _, _ in HEADLINE_METRICS]
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        for r in head:
            w.writerow({c: ("" if r.get(c) is None else r.get(c)) for c in cols})
    (out_dir / HEADLINE_MD).write_text(headline_markdown(head))
    return head


def load_summary(run_dir: Path) -> dict:
    with open(Path(run_dir) / "summary.json") as f:
        return json.load(f)
