"""What a sweep cost in time: the total wall time of this invocation and, per profile, the run times (sum, median,
max) of every finished run — issue 13 asks the study to print both, so a change in speed shows where it came from.

Runs finished by an earlier invocation (a resumed sweep) count in the per-profile figures with the run time they
took then, so the figures describe the whole sweep; the line says how many were such.
"""
from __future__ import annotations

import statistics
from typing import Iterable


def profile_times(rows: Iterable[dict]) -> list[dict]:
    """Per profile, in the order profiles first appear: runs, sum, median and max of ``run_wall_seconds`` over the
    finished runs that have one, and how many of those ran in an earlier invocation (``cached``)."""
    walls: dict[str, list[float]] = {}
    cached: dict[str, int] = {}
    for r in rows:
        wall = r.get("run_wall_seconds")
        if r.get("status") != "done" or wall is None:
            continue
        walls.setdefault(str(r.get("profile")), []).append(float(wall))
        cached[str(r.get("profile"))] = cached.get(str(r.get("profile")), 0) + bool(r.get("cached"))
    return [{"profile": p, "runs": len(w), "sum": sum(w), "median": statistics.median(w), "max": max(w),
             "cached": cached[p]} for p, w in walls.items()]


def wall_summary(result) -> str:
    """One line: the runs, this invocation's total wall time, and the times of the runs it ran itself."""
    walls = result.run_walls
    s = (f"{len(result.rows)} runs ({result.ran} run now on {result.workers} worker(s), {result.skipped} already "
         f"done), total wall time {result.wall_seconds:.1f} s")
    if walls:
        s += (
            f"; per run: mean {statistics.fmean(walls):.2f} s, median {statistics.median(walls):.2f} s, "
            f"min {min(walls):.2f} s, max {max(walls):.2f} s, sum {sum(walls):.1f} s"
        )
    return s


def profile_lines(rows: Iterable[dict]) -> list[str]:
    """The per-profile run times as aligned lines (empty when no run finished)."""
    times = profile_times(rows)
    if not times:
        return []
    width = max(len("profile"), *(len(t["profile"]) for t in times))
    lines = [f"run time per profile: {'profile':<{width}}  runs     sum s  median s     max s"]
    indent = " " * len("run time per profile: ")
    for t in times:
        earlier = f"  ({t['cached']} from an earlier invocation)" if t["cached"] else ""
        lines.append(f"{indent}{t['profile']:<{width}}  {t['runs']:>4}  {t['sum']:>8.1f}  {t['median']:>8.2f}  "
                     f"{t['max']:>8.2f}{earlier}")
    total = sum(t["sum"] for t in times)
    lines.append(f"{indent}{'all':<{width}}  {sum(t['runs'] for t in times):>4}  {total:>8.1f}")
    return lines
