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
def oned_zmq(oned):
    """The same double with its ZeroMQ publisher started; `oned.zmq_endpoint` is the PUB address."""
    oned.start_zmq()
    return oned
