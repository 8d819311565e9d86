"""Figures of one simulation's output directory (FORMATS.md): Gantt chart of leases over hosts,
utilization and queue length over time, wait-time distribution.

Everything works on numpy arrays, so a 30-day trace with ~10^5 allocation rows renders in seconds:
the Gantt chart merges intervals closer than a pixel (and groups hosts into lanes when there are
more hosts than lanes) until it has at most ``max_bars`` rectangles.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

TYPE_COLORS = {"be": "#4C72B0", "ar": "#DD8452", "im": "#55A868", "deadline": "#8172B3"}
TYPE_NAMES = {"be": "best effort", "ar": "advance reservation", "im": "immediate", "deadline": "deadline"}
OVERHEAD_COLORS = {
    "boot": "#9a9a9a",
    "shutdown": "#9a9a9a",
    "transfer": "#E6C229",
    "migrate": "#8C564B",
    "suspend": "#D62728",
    "resume": "#D62728",
}
ACTIVITIES = ["run", "suspend", "resume", "migrate", "boot", "shutdown", "transfer"]
DPI = 110


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
    if span >= 3 * 86400:
        return 86400.0, "days"
    if span >= 3 * 3600:
        return 3600.0, "hours"
    if span >= 180:
        return 60.0, "minutes"
    return 1.0, "seconds"


def _category(run: RunData) -> np.ndarray:
    """Per allocation row: 'run:<type>' or the overhead activity."""
    if len(run.a_activity) == 0:
        return np.array([], dtype=object)
    types = run.lease_type[np.clip(run.a_lease, 0, None)] if len(run.lease_type) else np.full(len(run.a_lease), "be", dtype=object)
    types = np.where(run.a_lease >= 0, types, "be")
    act = run.a_activity.astype(str)
    return np.where(act == "run", np.char.add("run:", types.astype(str)), act)


def _category_style(cat: str) -> tuple[str, str, str | None]:
    """(label, colour, hatch) of a category."""
    if cat.startswith("run:"):
        typ = cat[4:]
        return TYPE_NAMES.get(typ, typ), TYPE_COLORS.get(typ, "#777777"), None
    label = {"suspend": "suspend / resume", "resume": "suspend / resume", "boot": "boot / shutdown", "shutdown": "boot / shutdown"}.get(cat, cat)
    return label, OVERHEAD_COLORS.get(cat, "#444444"), ("////" if cat in ("suspend", "resume") else None)


def lane_occupancy(lanes: np.ndarray, starts: np.ndarray, ends: np.ndarray, weights: np.ndarray,
                   n_lanes: int, t0: float, span: float, bins: int) -> np.ndarray:
    """(n_lanes, bins): time-weighted sum of ``weights`` held in each lane and time bin, in one
    vectorised pass (each lane's timeline is shifted past the previous one)."""
    stride = 2.0 * span + 1.0
    shift = lanes.astype(float) * stride - t0
    grid = np.linspace(0.0, span, bins + 1)
    points = (np.arange(n_lanes)[:, None] * stride + grid[None, :]).ravel()
    at = _integral_at(starts + shift, ends + shift, weights, points).reshape(n_lanes, bins + 1)
    return np.diff(at, axis=1) / np.diff(grid)[None, :]


def gantt(run: RunData, path: Path, max_bars: int = 20000, max_lanes: int = 160, width_px: int = 1500) -> dict:
    """Leases over hosts; colour by lease type, overheads in grey/gold, suspend/resume in hatched red
    with a ▼ at each suspension. Up to ``max_bars`` allocation rows are drawn as exact bars; above
    that the chart is aggregated: each pixel column of each lane is coloured by the share of the
    lane's CPU each lease type held then (white = idle), so idle time stays visible. Hosts are
    grouped into lanes when there are more than ``max_lanes``."""
    n_hosts = max(1, len(run.hosts))
    per_lane = max(1, math.ceil(n_hosts / max_lanes))
    n_lanes = math.ceil(n_hosts / per_lane)
    t0, t1 = run.t0, run.t1
    span = max(t1 - t0, 1e-9)
    unit, unit_name = time_unit(span)
    px = span / width_px
    cats = _category(run)
    lanes = np.where(run.a_host >= 0, run.a_host // per_lane, 0)
    ok = run.a_end > run.a_start
    total_rows = int(ok.sum())
    aggregated = total_rows > max_bars or per_lane > 1
    present = [str(c) for c in np.unique(cats[ok])] if ok.any() else []
    order = sorted(present, key=lambda c: (not c.startswith("run:"), c))

    height = min(11.0, max(4.0, 1.8 + n_lanes * 0.06))
    fig, ax = plt.subplots(figsize=(width_px / DPI, height), dpi=DPI)
    legend: dict[str, Patch] = {}
    count = 0
    if not aggregated:
        edge = dict(edgecolor="white", linewidth=0.3) if total_rows < 3000 else dict(linewidth=0)
        min_w = px * 2.5  # overheads stay visible at any scale
        for cat in order:
            label, color, hatch = _category_style(cat)
            sel = ok & (cats == cat)
            w = run.a_end[sel] - run.a_start[sel]
            if not cat.startswith("run:"):
                w = np.maximum(w, min_w)
                style = dict(facecolor=color, hatch=hatch, edgecolor="#7f0000" if hatch else color, linewidth=0.0)
            else:
                style = dict(facecolor=color, **edge)
            for lane in np.unique(lanes[sel]):
                m = lanes[sel] == lane
                ax.broken_barh(list(zip((run.a_start[sel][m] - t0) / unit, w[m] / unit)), (lane - 0.42, 0.84), **style)
            count += int(sel.sum())
            legend.setdefault(label, Patch(facecolor=color, hatch=hatch, edgecolor=style.get("edgecolor", "none"), label=label))
    else:
        bins = width_px
        lane_cap = np.zeros(n_lanes)
        np.add.at(lane_cap, np.arange(n_hosts)[: len(run.host_cpu)] // per_lane, np.nan_to_num(run.host_cpu, nan=1.0))
        lane_cap[lane_cap <= 0] = 1.0
        img = np.ones((n_lanes, bins, 3))
        for cat in order:
            label, color, hatch = _category_style(cat)
            sel = ok & (cats == cat)
            occ = lane_occupancy(lanes[sel], run.a_start[sel], run.a_end[sel], run.a_cpu[sel], n_lanes, t0, span, bins)
            occ = np.clip(occ / lane_cap[:, None], 0.0, 1.0)
            rgb = np.array(matplotlib.colors.to_rgb(color))
            img -= occ[:, :, None] * (1.0 - rgb)[None, None, :]
            legend.setdefault(label, Patch(facecolor=color, hatch=hatch, edgecolor="#7f0000" if hatch else "none", label=label))
        ax.imshow(np.clip(img, 0, 1), aspect="auto", interpolation="nearest", extent=(0, span / unit, n_lanes - 0.5, -0.5))
        count = n_lanes * bins

    # a marker at every suspension, so that even a 20-second suspend shows on a 30-day chart
    susp = ok & (run.a_activity == "suspend") & (run.a_node == 0) if len(run.a_activity) else np.zeros(0, bool)
    n_susp = int(susp.sum())
    if n_susp:
        ax.scatter((run.a_start[susp] - t0) / unit, lanes[susp] - 0.1, marker="v", s=22, color="#D62728", edgecolor="black", linewidths=0.4, zorder=5)
        legend["suspension (marker)"] = plt.Line2D([], [], marker="v", color="#D62728", markeredgecolor="black", linestyle="none", label=f"suspension ({n_susp})")

    ax.set_xlim(0, span / unit)
    ax.set_ylim(n_lanes - 0.5, -0.5)
    step = max(1, math.ceil(n_lanes / 24))
    ax.set_yticks(range(0, n_lanes, step))
    if per_lane == 1:
        ax.set_yticklabels([run.hosts[i] for i in range(0, n_lanes, step)], fontsize=7)
        ax.set_ylabel("host")
    else:
        ax.set_yticklabels([f"{i * per_lane}–{min(n_hosts, (i + 1) * per_lane) - 1}" for i in range(0, n_lanes, step)], fontsize=7)
        ax.set_ylabel(f"hosts ({per_lane} per lane)")
    ax.set_xlabel(f"time ({unit_name})")
    note = f"{total_rows:,} allocation rows"
    if aggregated:
        note += f", aggregated: share of each lane's CPU per {px / unit:.3g} {unit_name} (white = idle)"
    ax.set_title(f"Leases over hosts — {note}", fontsize=10)
    ax.legend(handles=list(legend.values()), loc="upper center", bbox_to_anchor=(0.5, -0.45 / height - 0.05), ncol=min(6, len(legend)), fontsize=8, frameon=False)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return {"rows": total_rows, "bars": count if not aggregated else 0, "aggregated": aggregated, "lanes": n_lanes,
            "hosts_per_lane": per_lane, "suspensions": n_susp}


def _integral_at(starts: np.ndarray, ends: np.ndarray, weights: np.ndarray, points: np.ndarray) -> np.ndarray:
    """∫_-inf^p of the sum of ``weights`` over the intervals active at each instant, for each point."""
    if len(starts) == 0:
        return np.zeros(len(points))
    t = np.concatenate([starts, ends])
    w = np.concatenate([weights, -weights])
    order = np.argsort(t, kind="stable")
    t, w = t[order], w[order]
    level = np.cumsum(w)  # level on [t[i], t[i+1])
    integ = np.concatenate([[0.0], np.cumsum(level[:-1] * np.diff(t))])
    at = np.interp(points, t, integ, left=0.0, right=integ[-1])
    return at + np.where(points > t[-1], (points - t[-1]) * level[-1], 0.0)


def _binned_level(starts: np.ndarray, ends: np.ndarray, weights: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Time-weighted mean, per bin, of the sum of ``weights`` over the intervals active at each instant."""
    return np.diff(_integral_at(starts, ends, weights, edges)) / np.diff(edges)


def _queue_series(run: RunData) -> tuple[np.ndarray, np.ndarray, str]:
    if run.queue is not None and len(run.queue[0]):
        t, q = run.queue
        order = np.argsort(t, kind="stable")
        return t[order], q[order], "queue.csv"
    # Derived: a best-effort or deadline lease is queued from its submission to its first start,
    # and again from the end of each suspension to the start of the following resume.
    queued_types = np.isin(run.lease_type, ["be", "deadline"])
    never = ~np.isfinite(run.start) & queued_types & (run.state != "rejected")
    ran = np.isfinite(run.start) & queued_types
    t_in = [run.submit[ran], run.submit[never]]
    t_out = [run.start[ran]]
    if len(run.a_activity):
        node0 = run.a_node == 0
        t_in.append(run.a_end[(run.a_activity == "suspend") & node0])
        t_out.append(run.a_start[(run.a_activity == "resume") & node0])
    ti, to = np.concatenate(t_in), np.concatenate(t_out)
    t = np.concatenate([ti, to])
    d = np.concatenate([np.ones(len(ti)), -np.ones(len(to))])
    order = np.lexsort((d, t))  # leaving before arriving at the same instant
    t, d = t[order], d[order]
    return t, np.cumsum(d), "derived from leases.csv and allocations.csv"


def utilization_queue(run: RunData, path: Path, bins: int = 1200) -> dict:
    """Top: CPU utilization over time by lease type (and overheads), time-averaged per bin.
    Bottom: how many leases wait in the queue."""
    t0, t1 = run.t0, run.t1
    span = max(t1 - t0, 1e-9)
    unit, unit_name = time_unit(span)
    capacity = float(np.nansum(run.host_cpu)) or 1.0
    edges = np.linspace(t0, t1, bins + 1)
    mid = (edges[:-1] + edges[1:]) / 2
    cats = _category(run)
    ok = run.a_end > run.a_start
    layers, labels, colors = [], [], []
    for typ in ["ar", "be", "deadline", "im"] + sorted({c[4:] for c in np.unique(cats) if c.startswith("run:")} - set(TYPE_COLORS)):
        sel = ok & (cats == f"run:{typ}")
        if sel.any():
            layers.append(_binned_level(run.a_start[sel], run.a_end[sel], run.a_cpu[sel], edges) / capacity)
            labels.append(TYPE_NAMES.get(typ, typ))
            colors.append(TYPE_COLORS.get(typ, "#777777"))
    sel = ok & (run.a_activity != "run")
    if sel.any():
        layers.append(_binned_level(run.a_start[sel], run.a_end[sel], run.a_cpu[sel], edges) / capacity)
        labels.append("overheads (boot, suspend, transfer…)")
        colors.append("#9a9a9a")

    fig, (ax, axq) = plt.subplots(2, 1, figsize=(13.6, 6.4), dpi=DPI, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    x = (mid - t0) / unit
    if layers:
        ax.stackplot(x, *layers, labels=labels, colors=colors, linewidth=0)
    used = np.sum(layers[:-1] if labels and labels[-1].startswith("overheads") else layers, axis=0) if layers else np.zeros(bins)
    util = run.summary.get("utilization")
    if isinstance(util, (int, float)):
        ax.axhline(util, color="black", linestyle="--", linewidth=1, label=f"utilization (summary) {util:.1%}")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("share of CPU capacity")
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.set_title(f"Utilization over time (mean per bin of {span / bins / unit:.3g} {unit_name})", fontsize=10)
    ax.legend(loc="lower right", fontsize=8, ncol=3, framealpha=0.9)
    ax.grid(alpha=0.3)

    qt, qn, source = _queue_series(run)
    if len(qt):
        axq.step(np.concatenate([[0.0], (qt - t0) / unit, [span / unit]]), np.concatenate([[0.0], qn, [qn[-1]]]), where="post", color="#4C72B0", linewidth=0.8)
        axq.fill_between(np.concatenate([[0.0], (qt - t0) / unit]), np.concatenate([[0.0], qn]), step="post", alpha=0.25, color="#4C72B0")
    axq.set_ylabel("leases queued")
    axq.set_xlabel(f"time ({unit_name})")
    axq.set_title(f"Queue length ({source})", fontsize=10)
    axq.set_xlim(0, span / unit)
    axq.set_ylim(bottom=0)
    axq.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return {"mean_utilization_plotted": float(np.mean(used)) if len(used) else 0.0, "max_queue": float(np.max(qn)) if len(qt) else 0.0}


def wait_distribution(run: RunData, path: Path) -> dict:
    """Histogram and empirical CDF of the wait of leases that ran, per lease type with waits."""
    span_w = np.nanmax(run.wait) if np.isfinite(run.wait).any() else 0.0
    unit, unit_name = time_unit(max(span_w, 1.0))
    fig, (axh, axc) = plt.subplots(1, 2, figsize=(13.6, 4.4), dpi=DPI)
    stats = {}
    max_count, min_count = 0, math.inf
    for typ in ["be", "deadline"]:  # ARs and immediate leases start when they ask: no wait to show
        w = run.wait[(run.lease_type == typ) & np.isfinite(run.wait)]
        if len(w) == 0:
            continue
        color = TYPE_COLORS.get(typ, "#777777")
        counts, _, _ = axh.hist(w / unit, bins=min(60, max(10, int(math.sqrt(len(w))))), color=color, alpha=0.6, label=f"{TYPE_NAMES.get(typ, typ)} (n={len(w)})")
        max_count = max(max_count, int(np.max(counts)))
        if (counts > 0).any():
            min_count = min(min_count, int(np.min(counts[counts > 0])))
        xs = np.sort(w) / unit
        axc.step(np.concatenate([[0.0], xs]), np.concatenate([[0.0], np.arange(1, len(xs) + 1) / len(xs)]), where="post", color=color, label=TYPE_NAMES.get(typ, typ))
        mean, med = float(np.mean(w)), float(np.median(w))
        axc.axvline(mean / unit, color=color, linestyle="--", linewidth=0.9)
        axc.axvline(med / unit, color=color, linestyle=":", linewidth=0.9)
        stats[typ] = {"n": int(len(w)), "mean": mean, "median": med, "p95": float(np.percentile(w, 95))}
    log = max_count > 100 * min_count  # a long tail: show it on a log scale
    if log:
        axh.set_yscale("log")
    axh.set_xlabel(f"wait ({unit_name})")
    axh.set_ylabel("leases (log scale)" if log else "leases")
    axh.set_title("Wait-time histogram", fontsize=10)
    if stats:
        axh.legend(fontsize=8)
    axc.set_xlabel(f"wait ({unit_name})")
    axc.set_ylabel("share of leases waiting at most x")
    axc.set_ylim(0, 1.02)
    desc = "; ".join(f"{TYPE_NAMES.get(k, k)}: mean {v['mean'] / unit:.3g}, median {v['median'] / unit:.3g} {unit_name}" for k, v in stats.items())
    axc.set_title(f"Wait-time CDF (dashed: mean, dotted: median)\n{desc}", fontsize=9)
    if stats:
        axc.legend(fontsize=8, loc="lower right")
    axc.grid(alpha=0.3)
    if not stats:
        for a in (axh, axc):
            a.text(0.5, 0.5, "no lease waited", ha="center", va="center", transform=a.transAxes)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return stats


def run_figures(run_dir: Path, out_dir: Path, max_bars: int = 20000) -> list[dict]:
    """All figures of one run into ``out_dir``; returns [{file, title, caption, info}]."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    run = load_run(run_dir)
    figs = []
    info = gantt(run, out_dir / "gantt.png", max_bars=max_bars)
    figs.append(
        {
            "file": "gantt.png",
            "title": "Leases over hosts",
            "caption": f"{len(run.lease_ids):,} leases on {len(run.hosts)} hosts; colour by lease type, red hatched segments and ▼ markers "
            f"are suspensions ({info['suspensions']}). "
            + ("Aggregated: each pixel is coloured by the share of CPU each lease type held (white = idle)." if info["aggregated"] else ""),
            "info": info,
        }
    )
    info = utilization_queue(run, out_dir / "utilization_queue.png")
    figs.append({"file": "utilization_queue.png", "title": "Utilization and queue length", "caption": "CPU in use by lease type over time, and leases waiting in the queue.", "info": info})
    info = wait_distribution(run, out_dir / "waits.png")
    figs.append({"file": "waits.png", "title": "Wait times", "caption": "Distribution of wait (start − submit) of leases that ran.", "info": info})
    return figs
