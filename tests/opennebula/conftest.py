"""The `oned` fixture: a running test double of OpenNebula's oned (XML-RPC at /RPC2; ZeroMQ on demand)."""
from __future__ import annotations

import pytest

from .oned_double.double import OnedDouble


@pytest.fixture
def oned():
    """A started double with no hosts; add them with `oned.add_host(...)`, drive it with pyone at `oned.url`."""
    double = OnedDouble().start()
    try:
        yield double
    finally:
        double.stop()


@pytest.fixture
def manual_oned():
    """A double on a ManualClock (`manual_oned.clock.advance(s)` then `manual_oned.model.tick()`): transient
    states last 10 s each unless set_delays() says otherwise, and move only when the test moves time."""
    from .oned_double.model import ManualClock
    clock = ManualClock()
    double = OnedDouble(clock=clock, delay=10.0).start()
    double.clock = clock
    try:
        yield double
    finally:
        double.stop()


@pytest.fixture
def oned_zmq(oned):
    """The same double with its ZeroMQ publisher started; `oned.zmq_endpoint` is the PUB address."""
    oned.start_zmq()
    return oned


@pytest.fixture
def sched_mad(oned):
    """Start a scheduler driver program against the `oned` double as oned would: `sched_mad(executable, args)`.

    Keyword knobs go to SchedMadHarness (max_actions_per_host, action_timeout, manager_timer, ...).
    """
    from .oned_double.sched_harness import SchedMadHarness
    started = []

    def start(executable: str, arguments: str = "", automatic: bool = False, **knobs) -> SchedMadHarness:
        harness = SchedMadHarness(oned.model, executable, arguments, **knobs)
        started.append(harness)
        harness.start(automatic=automatic)
        return harness

    yield start
    for harness in started:
        harness.stop()
