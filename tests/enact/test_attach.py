"""Hosts added and removed while enactment runs: attach/detach on the executor, monitor and recovery."""
from __future__ import annotations

import pytest

from conftest import fast_config, make_hosts
from galerna.enact.config import RecoveryConfig
from galerna.enact.driver import HostState, VMSpec
from galerna.enact.executor import Action, Executor
from galerna.enact.faults import FaultyDriver
from galerna.enact.monitor import Monitor
from galerna.enact.recovery import RecoveryManager


@pytest.fixture
def parts(tmp_path):
    drivers = {u: FaultyDriver(d) for u, d in make_hosts(tmp_path, 2).items()}
    a, b = drivers
    ex = Executor({a: drivers[a]}, config=fast_config(tmp_path), seed=1)
    mon = Monitor({a: drivers[a]}, ex.inventory, poll_timeout=2)
    rec = RecoveryManager({a: drivers[a]}, ex.inventory, ex, RecoveryConfig(grace_period=3600))
    mon.on_host_change(rec.host_changed)
    yield drivers, ex, mon, rec
    ex.close()
    for d in drivers.values():
        d.close()


def test_an_attached_host_is_acted_on_polled_and_listened_to_once(parts):
    drivers, ex, mon, rec = parts
    a, b = drivers
    spec = VMSpec("galerna-x-0", 1, 64, lease_id="x")
    with pytest.raises(KeyError):
        ex.submit(Action.deploy(spec, b))  # not a host of the executor yet
    ex.inventory.hosts[b] = HostState.ERROR  # a host left in error when it was removed before
    for part in (ex, mon, rec):
        part.attach(b, drivers[b])
    assert ex.inventory.host_state(b) is HostState.UP  # it has just answered
    assert ex.submit(Action.deploy(spec, b)).result(10).ok
    mon.poll()
    assert spec.name in mon.seen[b] and ex.inventory.get(spec.name).host == b
    assert mon.listen(b, drivers[b])  # already listening: not registered twice
    assert sorted(mon.drivers) == sorted(rec.drivers) == sorted(ex.drivers) == sorted(drivers)


def test_a_detached_host_is_forgotten_by_every_part(parts):
    drivers, ex, mon, rec = parts
    a, b = drivers
    for part in (ex, mon, rec):
        part.attach(b, drivers[b])
    spec = VMSpec("galerna-y-0", 1, 64, lease_id="y")
    assert ex.submit(Action.deploy(spec, b)).result(10).ok
    mon.poll()
    assert b in mon.seen
    drivers[b].down()
    mon.poll()
    assert ex.inventory.host_state(b) is HostState.ERROR and b in rec.error_since
    left = ex.detach(b)
    mon.detach(b)
    rec.detach(b)
    assert [r.name for r in left] == [spec.name] and ex.inventory.get(spec.name) is None
    assert ex.inventory.host_state(b) is None and b not in mon.seen and b not in rec.error_since
    assert list(ex.drivers) == list(mon.drivers) == list(rec.drivers) == [a]
    with pytest.raises(KeyError):
        ex.submit(Action.deploy(spec, b))
