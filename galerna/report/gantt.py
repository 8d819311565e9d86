"""The Gantt chart of one run: leases over hosts.

Up to ``max_bars`` allocation rows are drawn as exact bars; above that, hosts
are grouped into lanes and each pixel column is coloured by the share of CPU
each lease type held, so a 30-day trace renders in seconds.
"""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from galerna.report.intervals import lane_occupancy  # noqa: E402
from galerna.report.run_data import RunData, lease_category, time_unit  # noqa: E402
from galerna.report.style import DPI, category_style  # noqa: E402


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
    cats = lease_category(run)
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
            label, color, hatch = category_style(cat)
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
            label, color, hatch = category_style(cat)
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
