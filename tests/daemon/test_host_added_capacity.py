"""A host added (or enabled again) while leases wait is capacity they can use at once: the core rebuilt after the
change gives it back (compression and a queue round), instead of leaving a reservation behind a busy host."""
from __future__ import annotations

import time

import pytest


def whole_host(svc):
    site = svc.settings.config.site
    return {"type": "be", "duration": 3600, "nodes": [{"cpu": site.cpu, "memory": site.memory}], "tenant": "t"}


@pytest.mark.parametrize("how", ["add", "enable"])
def test_a_lease_waiting_behind_busy_hosts_starts_on_a_host_added_or_enabled(svc, how):
    n = len(svc.names)
    if how == "enable":
        svc.change_host("disable", svc.names[-1]).result(10)
        n -= 1
    running = [svc.submit(**whole_host(svc)).result(10) for _ in range(n)]
    assert all(v["state"] == "active" for v in running)
    waiting = svc.submit(**whole_host(svc)).result(10)
    assert waiting["state"] == "scheduled"  # a reservation an hour away, behind the busy hosts
    site = svc.settings.config.site
    if how == "add":
        svc.change_host("add", "extra", cpu=site.cpu, memory=site.memory).result(10)
        target = "extra"
    else:
        target = svc.names[-1]
        svc.change_host("enable", target).result(10)
    lease = svc.core.leases[waiting["id"]]
    deadline = time.monotonic() + 10
    while lease.state.value != "active" and time.monotonic() < deadline:
        time.sleep(0.05)
        lease = svc.core.leases[waiting["id"]]
    assert lease.state.value == "active"
    assert [svc.names[h] for h in lease.hosts] == [target]
