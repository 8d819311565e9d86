"""Whole-trace runs: Blue Horizon, 30 days, 144 nodes — every output passes the checker."""
import json

import pytest

from galerna.config.schema import Config
from galerna.readers import inject, load_workload
from galerna.sim.run import simulate
from helpers import check, rows

INJECTION = "work_20-dur_3h-size_2medium.lwf"


def blue(backfilling, suspension):
    return Config.model_validate({"site": {"nodes": 144, "cpu": 1, "memory": 1024},
                                  "scheduling": {"backfilling": backfilling, "suspension": suspension}})


@pytest.mark.slow
@pytest.mark.parametrize("injected", [False, True], ids=["trace", "with-ARs"])
@pytest.mark.parametrize("backfilling", ["conservative", "aggressive"])
@pytest.mark.parametrize("suspension", ["all", "none"])
def test_blue_30_days(traces_dir, tmp_path, injected, backfilling, suspension):
    trace = traces_dir / "blue" / "30days.swf"
    inj = [traces_dir / "blue" / "injected_leases" / "30days" / INJECTION] if injected else []
    workload = load_workload(trace)
    for f in inj:
        workload = inject(workload, f)
    summary = simulate(trace, blue(backfilling, suspension), tmp_path, inject=inj)
    assert check(tmp_path, len(workload.requests)).startswith("OK")
    assert summary["leases"] == len(workload.requests)
    assert summary["be_done"] == sum(1 for r in workload.requests if r.type.value == "be")
    assert json.loads((tmp_path / "summary.json").read_text())["ar_accepted"] == summary["ar_accepted"]
    if injected:
        assert summary["ar_requested"] > 100
        assert summary["ar_accepted"] > 0
        if suspension == "none":
            assert summary["suspensions"] == 0
    else:
        assert summary["ar_requested"] == 0 and summary["suspensions"] == 0
    leases = {r["lease_id"]: r for r in rows(tmp_path, "leases.csv")}
    assert sum(int(r["suspensions"]) for r in leases.values()) == summary["suspensions"]
    # Work thrown away by cancel-and-requeue belongs to leases that then ran to the end.
    lost = {r["lease_id"] for r in rows(tmp_path, "lost_work.csv")}
    assert len(lost) <= summary["requeues"]
    assert all(leases[i]["state"] == "done" for i in lost)
