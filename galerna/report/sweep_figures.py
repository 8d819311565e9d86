"""Figures of a sweep: each metric against AR share, one line per profile (mean over the runs at
that share, with a band from the lowest to the highest)."""
from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from galerna.sweep.results import _num

DPI = 110

# (column, title, y label, formatter)
SWEEP_METRICS = [
    ("all_best_effort_rel", "Completion of all best-effort work", "relative to the run without ARs", None),
    ("mean_wait", "Mean wait of best-effort leases", "seconds", None),
    ("mean_bounded_slowdown", "Mean bounded slowdown", "bounded slowdown", None),
    ("ar_acceptance", "AR acceptance", "accepted / requested", "percent"),
    ("utilization", "Utilization", "share of CPU capacity", "percent"),
    ("run_wall_seconds", "Simulation wall time per run", "seconds", None),
]

LOG_RATIO = 30.0

MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]


def series(rows: list[dict], metric: str) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """profile → (shares, mean, min, max) over finished runs."""
    by: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    order: list[str] = []
    for r in rows:
        if r.get("status") != "done":
            continue
        p = str(r.get("profile"))
        if p not in order:
            order.append(p)
        v = _num(r.get(metric))
        if v is not None:
            by[p][_num(r.get("ar_share")) or 0.0].append(v)
    out = {}
    for p in order:
        if not by[p]:
            continue
        shares = np.array(sorted(by[p]))
        vals = [by[p][s] for s in shares]
        out[p] = (shares, np.array([np.mean(v) for v in vals]), np.array([np.min(v) for v in vals]), np.array([np.max(v) for v in vals]))
    return out


def _plot_metric(ax, rows: list[dict], metric: str, title: str, ylabel: str, fmt: str | None) -> bool:
    data = series(rows, metric)
    if not data:
        ax.text(0.5, 0.5, f"no values of {metric}", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(title, fontsize=10)
        return False
    styles = ["-", "--", "-.", ":"]
    for i, (profile, (x, mean, lo, hi)) in enumerate(data.items()):
        # profiles with equal values would hide each other: later ones get smaller markers and dashes
        line = ax.plot(x, mean, marker=MARKERS[i % len(MARKERS)], markersize=max(3.0, 8.0 - 1.2 * i), linewidth=1.5,
                       linestyle=styles[i % len(styles)], alpha=0.9, label=profile)[0]
        if np.any(hi > lo):
            ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.12, linewidth=0)
    shares = sorted({v for v in (_num(r.get("ar_share")) for r in rows if r.get("status") == "done") if v is not None})
    if shares:
        pad = max(0.5, 0.04 * (shares[-1] - shares[0]))
        ax.set_xlim(shares[0] - pad, shares[-1] + pad)
        if len(shares) <= 12:
            ax.set_xticks(shares)
            ax.set_xticklabels([f"{v:g}" for v in shares])
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("AR share of CPU-hours (%)")
    ax.set_ylabel(ylabel)
    if fmt == "percent":
        ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    elif _spans_decades(data):
        ax.set_yscale("log")
        ax.set_ylabel(f"{ylabel} (log scale)")
    ax.grid(alpha=0.3)
    if ax.get_yscale() == "log":
        ax.grid(alpha=0.1, which="minor")
    return True


def _spans_decades(data: dict) -> bool:
    """Whether the lines differ by more than a factor of LOG_RATIO, all positive: on a linear
    axis the largest would flatten the others (the study's mean wait: 250,000 s against 5,000 s)."""
    lows = [float(lo.min()) for _, _, lo, _ in data.values()]
    highs = [float(hi.max()) for _, _, _, hi in data.values()]
    return min(lows) > 0 and max(highs) / min(lows) > LOG_RATIO


def sweep_figures(rows: list[dict], out_dir: Path, metrics=SWEEP_METRICS) -> list[dict]:
    """One PNG per metric plus an overview grid of all of them; returns [{file, title, caption}]."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    present = [m for m in metrics if any(_num(r.get(m[0])) is not None for r in rows if r.get("status") == "done")]
    figs = []
    if not present:
        return figs
    ncols = 3 if len(present) > 4 else 2
    nrows = math.ceil(len(present) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.0 * ncols, 3.6 * nrows + 0.6), dpi=DPI, squeeze=False)
    for ax, (col, title, ylabel, fmt) in zip(axes.flat, present):
        _plot_metric(ax, rows, col, title, ylabel, fmt)
    for ax in list(axes.flat)[len(present):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(6, len(labels)), fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(out_dir / "sweep_overview.png")
    plt.close(fig)
    figs.append(
        {
            "file": "sweep_overview.png",
            "title": "All metrics against AR share",
            "caption": "One line per profile: the mean over the runs at each AR share; the band spans their lowest to highest value.",
        }
    )
    for col, title, ylabel, fmt in present:
        fig, ax = plt.subplots(figsize=(7.2, 4.4), dpi=DPI)
        _plot_metric(ax, rows, col, title, ylabel, fmt)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out_dir / f"sweep_{col}.png")
        plt.close(fig)
        figs.append({"file": f"sweep_{col}.png", "title": title, "caption": f"{col} against AR share, one line per profile."})
    return figs
