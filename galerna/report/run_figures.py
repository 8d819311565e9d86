"""Figures of one simulation's output directory (FORMATS.md): Gantt chart of leases over hosts
(``gantt.py``), utilization and queue length over time, wait-time distribution.

Everything works on numpy arrays, so a 30-day trace with ~10^5 allocation rows renders in seconds:
the Gantt chart merges intervals closer than a pixel (and groups hosts into lanes when there are
more hosts than lanes) until it has at most ``max_bars`` rectangles.
"""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from galerna.report.gantt import gantt  # noqa: E402
from galerna.report.intervals import binned_level, lane_occupancy  # noqa: E402
from galerna.report.run_data import RunData, lease_category, load_run, time_unit  # noqa: E402
from galerna.report.style import DPI, TYPE_COLORS, TYPE_NAMES  # noqa: E402

# gantt, lane_occupancy and load_run are imported from here by the tests, as before the split.
__all__ = ["gantt", "lane_occupancy", "load_run", "run_figures", "utilization_queue", "wait_distribution"]


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
    cats = lease_category(run)
    ok = run.a_end > run.a_start
    layers, labels, colors = [], [], []
    for typ in ["ar", "be", "deadline", "im"] + sorted({c[4:] for c in np.unique(cats) if c.startswith("run:")} - set(TYPE_COLORS)):
        sel = ok & (cats == f"run:{typ}")
        if sel.any():
            layers.append(binned_level(run.a_start[sel], run.a_end[sel], run.a_cpu[sel], edges) / capacity)
            labels.append(TYPE_NAMES.get(typ, typ))
            colors.append(TYPE_COLORS.get(typ, "#777777"))
    sel = ok & (run.a_activity != "run")
    if sel.any():
        layers.append(binned_level(run.a_start[sel], run.a_end[sel], run.a_cpu[sel], edges) / capacity)
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
