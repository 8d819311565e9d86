"""Enactment: making leases real on hypervisors, safely.

drivers (simulated, libvirt) behind a concurrency gate, with timeouts,
retries, failure policies, monitoring, host-outage recovery and
reconciliation after a daemon restart. See docs/enactment.md.
"""
from galerna.enact.config import EnactmentConfig, default_test_hosts, make_drivers
from galerna.enact.driver import (
    Driver,
    HostState,
    HypervisorError,
    OperationKind,
    OperationTimeout,
    VMInfo,
    VMSpec,
    VMState,
)

__all__ = [
    "Driver",
    "EnactmentConfig",
    "HostState",
    "HypervisorError",
    "OperationKind",
    "OperationTimeout",
    "VMInfo",
    "VMSpec",
    "VMState",
    "default_test_hosts",
    "make_drivers",
]
