"""Fixtures for enactment tests: libvirt test-driver hosts in a temporary directory."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the package may not be installed in the test environment
    sys.path.insert(0, str(ROOT))

from galerna.enact.config import EnactmentConfig, GateConfig, RetryConfig, default_test_hosts  # noqa: E402
from galerna.enact.libvirt import LibvirtDriver  # noqa: E402


def make_hosts(tmp_path: Path, n: int = 2, **kw) -> dict[str, LibvirtDriver]:
    uris = default_test_hosts(n, tmp_path, **kw)
    return {u: LibvirtDriver(u, tmp_path / "state" / f"h{i}") for i, u in enumerate(uris)}


@pytest.fixture
def hosts(tmp_path):
    drivers = make_hosts(tmp_path, 2)
    yield drivers
    for d in drivers.values():
        d.close()


def fast_config(tmp_path: Path, **gate) -> EnactmentConfig:
    """Short backoffs and timeouts so failure tests run quickly."""
    return EnactmentConfig(
        data_dir=str(tmp_path),
        gate=GateConfig(**gate),
        retry=RetryConfig(attempts=3, backoff_initial=0.01, backoff_max=0.05, jitter=0.0, shutdown_grace=0.2),
    )


def pytest_configure(config):
    config.addinivalue_line("markers", "libvirtd_outage: kills and restarts the CI libvirtd (run last)")


def pytest_collection_modifyitems(session, config, items):
    """The libvirtd outage test stops the libvirtd it restarted: run it after every other test."""
    last = [i for i in items if i.get_closest_marker("libvirtd_outage")]
    if last:
        items[:] = [i for i in items if i not in last] + last
