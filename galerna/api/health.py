"""``/v1/health``: can this daemon serve, and commit? (No token needed: for load balancers and start-up scripts.)

HTTP 200 only when the status is ``ok``: this daemon owns the database, has finished its start-up, its probe write
committed, no batch failed since the last good commit, writes are not fenced (database file deleted or replaced,
ownership lost), the executor runs and the scheduler loop keeps up. Anything else is 503 with the same body, saying
which part is not well (the fields are documented in the OpenAPI schema and the README)."""
from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request, Response

from galerna.api.schemas import Health

router = APIRouter()


def _dialect(url: str | None) -> str:
    return "postgresql" if (url or "").startswith("postgresql") else "sqlite"


@router.get("/v1/health", response_model=Health, response_model_exclude_none=True, tags=["health"],
            responses={503: {"model": Health, "description": "starting, standby, or not able to serve or commit"}})
def health(request: Request, response: Response) -> Any:
    state = request.app.state
    startup, ctx = state.startup, getattr(state, "galerna", None)
    if not startup.ready or ctx is None:
        response.status_code = 503
        return {"status": startup.phase if startup.phase in ("starting", "standby") else "degraded",
                "role": "standby" if startup.phase == "standby" else "starting", "detail": startup.detail(),
                "active_url": startup.active_url, "database": _dialect(startup.settings.daemon.db)}
    svc = ctx.service
    problems: list[str] = []
    ok, error, probe_age = state.probe.result()
    fenced = svc.fence.closed()
    last_commit = svc.journal.last_commit
    failure = svc.last_failure
    if fenced:
        ok, error = False, fenced
    elif failure is not None and failure[0] > last_commit:
        ok, error = False, f"the last batch failed: {failure[1]}"
    if not ok:
        problems.append(f"cannot commit: {error}")
    executor, monitor, in_error = svc.enactment_state()
    if executor == "closed":
        problems.append("the executor is closed")
    if monitor == "stopped":
        problems.append("the host monitor stopped")
    lag = svc.loop_lag()
    if lag > ctx.settings.daemon.decision_timeout:
        problems.append(f"the scheduler loop lags {lag:.1f} s")
    leases, hosts = svc.counts()
    if problems:
        response.status_code = 503
    return {"status": "degraded" if problems else "ok", "role": "active", "detail": "; ".join(problems),
            "active_url": startup.advertise or None, "database": ctx.store.dialect, "leases": leases, "hosts": hosts,
            "commit": {"ok": ok, "error": error, "probe_age_s": round(probe_age, 3),
                       "last_commit_age_s": round(time.time() - last_commit, 3) if last_commit else None},
            "executor": executor, "hosts_in_error": in_error, "monitor": monitor, "loop_lag_s": round(lag, 3)}
