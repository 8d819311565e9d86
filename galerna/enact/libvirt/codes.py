"""What libvirt's error codes and domain states mean to Galerna: permanent or transient, connection lost, VM state."""
from __future__ import annotations

import libvirt

from galerna.enact.driver import VMState

#: libvirt errors that retrying will not fix
PERMANENT_CODES = frozenset(
    {
        libvirt.VIR_ERR_XML_ERROR,
        libvirt.VIR_ERR_XML_DETAIL,
        libvirt.VIR_ERR_CONFIG_UNSUPPORTED,
        libvirt.VIR_ERR_NO_SUPPORT,
        libvirt.VIR_ERR_INVALID_ARG,
        libvirt.VIR_ERR_OPERATION_UNSUPPORTED,
        libvirt.VIR_ERR_NO_DOMAIN,
        libvirt.VIR_ERR_OPERATION_INVALID,
        libvirt.VIR_ERR_DOM_EXIST,
        libvirt.VIR_ERR_AUTH_FAILED,
    }
)
CONNECTION_CODES = frozenset(
    {libvirt.VIR_ERR_SYSTEM_ERROR, libvirt.VIR_ERR_RPC, libvirt.VIR_ERR_NO_CONNECT, libvirt.VIR_ERR_INVALID_CONN}
)

#: libvirt domain states as Galerna sees them
DOMAIN_STATES = {
    libvirt.VIR_DOMAIN_NOSTATE: VMState.UNKNOWN,
    libvirt.VIR_DOMAIN_RUNNING: VMState.RUNNING,
    libvirt.VIR_DOMAIN_BLOCKED: VMState.RUNNING,
    libvirt.VIR_DOMAIN_PAUSED: VMState.PAUSED,
    libvirt.VIR_DOMAIN_SHUTDOWN: VMState.RUNNING,  # shutting down: still running
    libvirt.VIR_DOMAIN_SHUTOFF: VMState.SHUTOFF,
    libvirt.VIR_DOMAIN_CRASHED: VMState.CRASHED,
    libvirt.VIR_DOMAIN_PMSUSPENDED: VMState.PAUSED,
}
