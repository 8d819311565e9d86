"""Summary metrics, computed from the same rows the output files hold."""
from __future__ import annotations

from galerna.model.lease import LeaseType
from galerna.model.state import LeaseState
from galerna.schedule.lease import Activity
from galerna.sim.engine import SimulationResult

BSLD_TAU = 10.0


def bounded_slowdown(submit: float, end: float, real: float) -> float:
    return max((end - submit) / max(real, BSLD_TAU), 1.0)


def summarize(result: SimulationResult, wall_seconds: float) -> dict:
    leases = result.leases
    by_type = {t: [L for L in leases if L.type is t] for t in LeaseType}
    done = [L for L in leases if L.state is LeaseState.DONE]
    be_done = [L for L in done if L.type is LeaseType.BE]
    waits = [L.first_run() - L.req.submit for L in be_done]
    bslds = [bounded_slowdown(L.req.submit, L.last_run_end(), result.real[L.id]) for L in be_done]
    cpu_total = sum(result.site.capacity(i)[0] for i in range(len(result.site)))
    busy = 0.0
    last_end = result.start
    for L in leases:
        for p in L.history:
            if p.activity is Activity.RUN:
                busy += (p.end - p.start) * sum(v[0] for v in L.vecs)
                last_end = max(last_end, p.end)
    first = min((L.req.submit for L in leases), default=0.0)
    span = last_end - first
    accepted = lambda t: sum(1 for L in by_type[t] if L.state is not LeaseState.REJECTED)  # noqa: E731
    ends = [L.last_run_end() for L in be_done]
    longest = max(be_done, key=lambda L: L.first_run() - L.req.submit, default=None)
    pushed = max(leases, key=lambda L: (L.suspensions + len(L.lost), -L.seq), default=None)
    pushed_times = pushed.suspensions + len(pushed.lost) if pushed is not None else 0
    return {
        "leases": len(leases),
        "done": len(done),
        "rejected": sum(1 for L in leases if L.state is LeaseState.REJECTED),
        "cancelled": sum(1 for L in leases if L.state is LeaseState.CANCELLED),
        "failed": sum(1 for L in leases if L.state is LeaseState.FAILED),
        "be_requested": len(by_type[LeaseType.BE]),
        "be_done": len(be_done),
        "ar_requested": len(by_type[LeaseType.AR]),
        "ar_accepted": accepted(LeaseType.AR),
        "im_requested": len(by_type[LeaseType.IM]),
        "im_accepted": accepted(LeaseType.IM),
        "deadline_requested": len(by_type[LeaseType.DEADLINE]),
        "deadline_accepted": accepted(LeaseType.DEADLINE),
        "mean_wait": sum(waits) / len(waits) if waits else 0.0,
        "max_wait": max(waits, default=0.0),
        "longest_wait_lease": longest.id if longest is not None else None,  # starvation: who waited max_wait
        "most_preempted_lease": pushed.id if pushed_times else None,  # the lease suspended or requeued most
        "most_preemptions": pushed_times,
        "mean_bounded_slowdown": sum(bslds) / len(bslds) if bslds else 0.0,
        "utilization": busy / (cpu_total * span) if span > 0 and cpu_total > 0 else 0.0,
        "all_best_effort": max(ends, default=0.0),
        "makespan": last_end,
        "suspensions": sum(L.suspensions for L in leases),
        "requeues": sum(1 for L in leases for _ in L.lost),
        "max_queue": max((q for _, q in result.queue), default=0),
        "wall_seconds": wall_seconds,
    }
