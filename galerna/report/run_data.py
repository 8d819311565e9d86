"""One simulation output directory (FORMATS.md) read into numpy arrays, for the run figures.

CSVs are read with pyarrow; the figures never loop over rows in Python.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class RunData:
    """One output directory, as arrays."""

    path: Path
    hosts: list[str]
    host_cpu: np.ndarray
    summary: dict
    # leases
    lease_ids: list[str]
    lease_type: np.ndarray  # str
    submit: np.ndarray
    start: np.ndarray  # nan when it never ran
    end: np.ndarray
    wait: np.ndarray
    slowdown: np.ndarray
    state: np.ndarray
    suspensions: np.ndarray
    # allocations
    a_lease: np.ndarray  # index into leases (-1 unknown)
    a_node: np.ndarray
    a_host: np.ndarray  # index into hosts
    a_start: np.ndarray
    a_end: np.ndarray
    a_activity: np.ndarray  # str
    a_cpu: np.ndarray
    queue: tuple[np.ndarray, np.ndarray] | None = None  # (time, queued) from queue.csv
    extra: dict = field(default_factory=dict)

    @property
    def t0(self) -> float:
        vals = [v for v in (np.nanmin(self.submit) if len(self.submit) else np.nan, np.nanmin(self.a_start) if len(self.a_start) else np.nan) if not math.isnan(v)]
        return min(vals) if vals else 0.0

    @property
    def t1(self) -> float:
        vals = [v for v in (np.nanmax(self.a_end) if len(self.a_end) else np.nan, np.nanmax(self.end) if np.isfinite(self.end).any() else np.nan, np.nanmax(self.submit) if len(self.submit) else np.nan) if not math.isnan(v)]
        return max(vals) if vals else 1.0


def _read_csv(path: Path, strings: list[str]) -> dict[str, np.ndarray]:
    """A CSV as columns: the named ones as str arrays, the others as float arrays (empty → nan)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    opts = pcsv.ConvertOptions(
        column_types={c: pa.string() for c in strings},
        strings_can_be_null=False,
        null_values=[""],
    )
    table = pcsv.read_csv(path, convert_options=opts)
    cols: dict[str, np.ndarray] = {}
    for name in table.column_names:
        col = table.column(name)
        if name in strings or pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            cols[name] = np.array([("" if v is None else str(v)) for v in col.to_pylist()], dtype=object)
        elif pa.types.is_boolean(col.type):
            cols[name] = np.array([bool(v) for v in col.to_pylist()], dtype=bool)
        else:
            cols[name] = col.cast(pa.float64()).fill_null(float("nan")).to_numpy(zero_copy_only=False)
    return cols


def load_run(run_dir: Path) -> RunData:
    run_dir = Path(run_dir)
    h = _read_csv(run_dir / "hosts.csv", ["host"])
    hosts = list(h["host"])
    host_index = {name: i for i, name in enumerate(hosts)}
    lease_str = ["lease_id", "type", "state", "hosts", "preemptible"]
    lz = _read_csv(run_dir / "leases.csv", lease_str)
    n = len(lz["lease_id"])

    def col(name: str, default=np.nan) -> np.ndarray:
        return lz[name] if name in lz else np.full(n, default)

    lease_ids = list(lz["lease_id"])
    lindex = {lid: i for i, lid in enumerate(lease_ids)}
    al = _read_csv(run_dir / "allocations.csv", ["lease_id", "host", "activity"])
    m = len(al["lease_id"]) if "lease_id" in al else 0
    a_lease = np.array([lindex.get(x, -1) for x in al.get("lease_id", [])], dtype=np.int64)
    a_host = np.array([host_index.get(x, -1) for x in al.get("host", [])], dtype=np.int64)
    summary = json.loads((run_dir / "summary.json").read_text()) if (run_dir / "summary.json").exists() else {}
    queue = None
    if (run_dir / "queue.csv").exists():
        q = _read_csv(run_dir / "queue.csv", [])
        if "time" in q and "queued" in q:
            queue = (q["time"], q["queued"])
    return RunData(
        path=run_dir,
        hosts=hosts,
        host_cpu=h.get("cpu", np.ones(len(hosts))),
        summary=summary,
        lease_ids=lease_ids,
        lease_type=np.array([str(t).lower() for t in col("type", "be")], dtype=object),
        submit=col("submit"),
        start=col("start"),
        end=col("end"),
        wait=col("wait"),
        slowdown=col("bounded_slowdown"),
        state=col("state", ""),
        suspensions=np.nan_to_num(col("suspensions", 0.0)),
        a_lease=a_lease,
        a_node=al.get("node", np.zeros(m)),
        a_host=a_host,
        a_start=al.get("start", np.zeros(m)),
        a_end=al.get("end", np.zeros(m)),
        a_activity=al.get("activity", np.array(["run"] * m, dtype=object)),
        a_cpu=al.get("cpu", np.ones(m)),
        queue=queue,
    )


def time_unit(span: float) -> tuple[float, str]:
    """(seconds per unit, unit name) that reads well on an axis spanning ``span`` seconds."""
    if span >= 3 * 86400:
        return 86400.0, "days"
    if span >= 3 * 3600:
        return 3600.0, "hours"
    if span >= 180:
        return 60.0, "minutes"
    return 1.0, "seconds"


def lease_category(run: RunData) -> np.ndarray:
    """Per allocation row: 'run:<type>' or the overhead activity."""
    if len(run.a_activity) == 0:
        return np.array([], dtype=object)
    types = run.lease_type[np.clip(run.a_lease, 0, None)] if len(run.lease_type) else np.full(len(run.a_lease), "be", dtype=object)
    types = np.where(run.a_lease >= 0, types, "be")
    act = run.a_activity.astype(str)
    return np.where(act == "run", np.char.add("run:", types.astype(str)), act)
