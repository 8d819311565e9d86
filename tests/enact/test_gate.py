"""The concurrency gate: limits, overrides, tenants, fast state changes, pools, global cap, FIFO."""
from __future__ import annotations

import threading
import time
from collections import defaultdict

import pytest

from galerna.enact.config import GateConfig
from galerna.enact.driver import OperationKind as Op
from galerna.enact.gate import Gate, GateTimeout, PoolKind

A, B, C, D = (f"test:///tmp/h{i}.xml" for i in range(4))


class Counter:
    """Counts operations in flight per key while they hold a gate slot."""

    def __init__(self):
        self.lock = threading.Lock()
        self.now = defaultdict(int)
        self.max = defaultdict(int)
        self.order = []

    def op(self, key, label, hold=0.01):
        with self.lock:
            self.now[key] += 1
            self.max[key] = max(self.max[key], self.now[key])
            self.order.append(label)
        time.sleep(hold)
        with self.lock:
            self.now[key] -= 1


def run_threads(fns):
    ts = [threading.Thread(target=f) for f in fns]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    assert not any(t.is_alive() for t in ts)


def hammer(gate, uris, per_uri, kind=Op.DEPLOY, tenant_of=lambda i: None, key_of=None, hold=0.01):
    c = Counter()
    key_of = key_of or (lambda uri, i: uri)

    def worker(uri, i):
        def f():
            with gate.slot(uri, kind, tenant_of(i)):
                c.op(key_of(uri, i), (uri, i), hold)
        return f

    run_threads([worker(u, i) for u in uris for i in range(per_uri)])
    return c


@pytest.mark.parametrize("limit", [1, 3])
def test_per_host_limit_is_reached_and_never_exceeded(limit):
    gate = Gate(GateConfig(per_host=limit))
    c = hammer(gate, [A, B], 12)
    assert c.max[A] == limit and c.max[B] == limit
    assert gate.max_per_host() == {A: limit, B: limit}


def test_different_hosts_run_side_by_side():
    """An op on A waits for an op on B to start: this would deadlock if hosts were serialised together."""
    gate = Gate(GateConfig(per_host=1))
    started_b = threading.Event()
    ok = []

    def on_a():
        with gate.slot(A, Op.DEPLOY):
            ok.append(started_b.wait(5))

    def on_b():
        with gate.slot(B, Op.DEPLOY):
            started_b.set()

    run_threads([on_a, on_b])
    assert ok == [True]


def test_overrides_by_driver_type_and_uri():
    cfg = GateConfig(per_host=1, overrides={"qemu+tcp": 4, "test": 0, "qemu+ssh://special/system": 2})
    gate = Gate(cfg)
    assert gate.limit("qemu+tcp://h1/system", PoolKind.OPS) == 4
    assert gate.limit("test:///x.xml", PoolKind.OPS) == 0
    assert gate.limit("qemu+ssh://other/system", PoolKind.OPS) == 1
    assert gate.limit("qemu+ssh://special/system", PoolKind.OPS) == 2
    assert gate.limit("qemu:///system", PoolKind.OPS) == 1
    c = hammer(gate, ["qemu+tcp://h1/system"], 12)
    assert c.max["qemu+tcp://h1/system"] == 4
    c = hammer(gate, [A], 8, hold=0.05)
    assert c.max[A] > 1  # unlimited: all eight could start together


def test_per_tenant_mode():
    gate = Gate(GateConfig(per_host=1, per_tenant=True))
    c = hammer(gate, [A], 12, tenant_of=lambda i: f"vdc{i % 2}", key_of=lambda u, i: (u, i % 2))
    assert c.max[(A, 0)] == 1 and c.max[(A, 1)] == 1
    # two tenants on one host run side by side
    other_started = threading.Event()
    ok = []

    def t0():
        with gate.slot(A, Op.DEPLOY, "vdc0"):
            ok.append(other_started.wait(5))

    def t1():
        with gate.slot(A, Op.DEPLOY, "vdc1"):
            other_started.set()

    run_threads([t0, t1])
    assert ok == [True]


@pytest.mark.parametrize("fast", [True, False])
def test_fast_state_changes_bypass_the_limit_only_when_enabled(fast):
    gate = Gate(GateConfig(per_host=1, fast_state_changes=fast))
    held = gate.acquire(A, Op.DEPLOY)
    power = gate.request(A, Op.SHUTDOWN)
    pause = gate.request(A, Op.PAUSE)
    assert power.granted.is_set() is fast
    assert pause.granted.is_set() is fast
    gate.release(held)
    assert power.granted.is_set()


def test_image_and_backup_pools_are_separate():
    gate = Gate(GateConfig(per_host=1, image_ops=1, backup_ops=1))
    held = gate.acquire(A, Op.DEPLOY)
    image = gate.request(A, Op.STAGE_IMAGE)
    save = gate.request(A, Op.SUSPEND)
    save2 = gate.request(A, Op.SUSPEND)
    assert image.granted.is_set() and save.granted.is_set()
    assert not save2.granted.is_set()  # backup pool is full
    gate.release(save)
    assert save2.granted.is_set()
    for t in (held, image, save2):
        gate.release(t)


def test_global_cap():
    gate = Gate(GateConfig(per_host=0, global_cap=2))
    hammer(gate, [A, B, C, D], 4, hold=0.02)
    assert gate.max_global == 2


def test_fifo_per_host():
    gate = Gate(GateConfig(per_host=1))
    order = []
    first = gate.acquire(A, Op.DEPLOY)
    tickets = [gate.request(A, Op.DEPLOY, label=str(i), on_grant=lambda t: order.append(t.label)) for i in range(10)]
    gate.release(first)
    for t in tickets:
        gate.release(t)
    assert order == [str(i) for i in range(10)]


def test_oldest_request_wins_the_global_slot():
    gate = Gate(GateConfig(per_host=0, global_cap=1))
    order = []
    held = gate.acquire(A, Op.DEPLOY)
    for i, uri in enumerate([B, C, A, D, B]):
        gate.request(uri, Op.DEPLOY, label=str(i), on_grant=lambda t: (order.append(t.label), gate.release(t)))
    gate.release(held)
    assert order == ["0", "1", "2", "3", "4"]


def test_acquire_timeout_withdraws_the_request():
    gate = Gate(GateConfig(per_host=1))
    held = gate.acquire(A, Op.DEPLOY)
    with pytest.raises(GateTimeout):
        gate.acquire(A, Op.DEPLOY, timeout=0.05)
    gate.release(held)
    later = gate.acquire(A, Op.DEPLOY, timeout=1)  # the withdrawn request does not hold the queue
    gate.release(later)
    assert gate.snapshot()["global"] == 0


def test_opposite_migrations_do_not_deadlock():
    gate = Gate(GateConfig(per_host=1, backup_ops=1, global_cap=1))
    done = []

    def mig(src, dst):
        def f():
            for _ in range(5):
                with gate.slots([(src, Op.MIGRATE), (dst, Op.MIGRATE)], timeout=5):
                    time.sleep(0.002)
            done.append(src)
        return f

    run_threads([mig(A, B), mig(B, A)])
    assert sorted(done) == sorted([A, B])


def test_release_twice_is_an_error():
    gate = Gate()
    t = gate.acquire(A, Op.DEPLOY)
    gate.release(t)
    with pytest.raises(RuntimeError):
        gate.release(t)
