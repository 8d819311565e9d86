"""Reading VM and host state from libvirt: what ``inspect``, ``list``, ``host_info`` and ``alive`` answer.

A VM without a domain but with a state file is suspended here; a shut-off
domain with a state file or a managed-save image is suspended too.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import libvirt

from galerna.enact.domain_xml import parse_metadata
from galerna.enact.driver import HostInfo, HypervisorError, OperationKind as Op, VMInfo, VMState
from galerna.enact.libvirt.codes import DOMAIN_STATES
from galerna.enact.libvirt.connection import Connection


class DomainStates:
    """The reading half of the libvirt driver (a mixin of LibvirtDriver, which sets these attributes)."""

    uri: str
    prefix: str
    state_dir: Path
    _connection: Connection
    _state_files: dict[str, str]
    default_state_file: Callable[[str], str]  # Driver's

    def _state_file(self, name: str) -> str | None:
        known = self._state_files.get(name)
        if known and os.path.exists(known):
            return known
        default = self.default_state_file(name)
        return default if os.path.exists(default) else None

    def _info(self, dom: libvirt.virDomain | None, name: str) -> VMInfo:
        if dom is None:
            sf = self._state_file(name)
            if sf:
                return VMInfo(name, VMState.SUSPENDED, self.uri, state_file=sf, managed=name.startswith(self.prefix + "-"))
            return VMInfo(name, VMState.ABSENT, self.uri)
        try:
            st, _reason = dom.state()
            info = dom.info()
            uuid = dom.UUIDString()
            meta = parse_metadata(dom.XMLDesc(0))
        except libvirt.libvirtError as e:
            if e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return self._info(None, name)
            raise self._connection.error(e, Op.INSPECT, name) from e
        state = DOMAIN_STATES.get(st, VMState.UNKNOWN)
        sf = None
        if state is VMState.SHUTOFF:
            sf = self._state_file(name)
            managed_image = False
            if not sf:
                try:
                    managed_image = bool(dom.hasManagedSaveImage(0))
                except libvirt.libvirtError:
                    managed_image = False
            if sf or managed_image:
                state = VMState.SUSPENDED
        return VMInfo(
            name,
            state,
            self.uri,
            vcpus=info[3],
            memory_mb=info[1] // 1024,
            uuid=uuid,
            managed=meta is not None or name.startswith(self.prefix + "-"),
            lease_id=(meta or {}).get("lease") or None,
            deployment=(meta or {}).get("deployment") or None,
            state_file=sf,
        )

    def inspect(self, name: str) -> VMInfo:
        return self._info(self._connection.lookup(name, Op.INSPECT), name)

    def list(self) -> list[VMInfo]:
        conn = self._connection.get()
        try:
            doms = conn.listAllDomains(0)
        except libvirt.libvirtError as e:
            raise self._connection.error(e, Op.LIST, None) from e
        out = {}
        for d in doms:
            try:
                name = d.name()
            except libvirt.libvirtError:
                continue
            info = self._info(d, name)
            if info.state is not VMState.ABSENT:
                out[name] = info
        if self.state_dir.is_dir():
            for f in self.state_dir.glob("*.save"):
                if f.stem not in out:
                    out[f.stem] = VMInfo(f.stem, VMState.SUSPENDED, self.uri, state_file=str(f), managed=True)
        return sorted(out.values(), key=lambda i: i.name)

    def host_info(self) -> HostInfo:
        conn = self._connection.get()
        try:
            model, mem_mb, cpus, *_ = conn.getInfo()
            return HostInfo(self.uri, conn.getType(), int(cpus), int(mem_mb))
        except libvirt.libvirtError as e:
            raise self._connection.error(e, Op.INSPECT, None) from e

    def alive(self) -> bool:
        try:
            conn = self._connection.get()
            conn.getLibVersion()  # a round trip on remote connections
            return True
        except HypervisorError:
            return False
        except libvirt.libvirtError as e:
            self._connection.error(e, Op.INSPECT, None)
            return False
