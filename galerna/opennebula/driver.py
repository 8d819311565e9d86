"""The enactment driver for one OpenNebula host, over XML-RPC.

The executor and the concurrency gate drive it unchanged: it implements
``galerna.enact.driver.Driver`` for the VMs Galerna placed on OpenNebula host
``host_id``. Operations map to oned's calls:

======================  ==========================================================
deploy / resume         ``one.vm.deploy(id, host, enforce=true, ds)`` (also from
                        STOPPED/UNDEPLOYED: a resume on another host is a cold
                        migration), then wait for RUNNING
suspend                 ``stop`` (memory saved, host freed) or ``undeploy``
                        (``[opennebula] preempt``); SUSPENDED/POWEROFF would keep
                        the host's capacity
shutdown (lease end)    ``terminate``, after ``terminate_timeout`` ``terminate-hard``
destroy                 ended lease: ``terminate-hard``; otherwise (requeue, stale
                        copy) ``undeploy-hard``: the host is freed, the VM kept
migrate                 ``one.vm.migrate(id, host, live, enforce=true, ds)``: live
                        or cold (``[enactment] live_migration``)
======================  ==========================================================

A VM left UNKNOWN by a lost host is booted again in place (``resume``) or
moved cold to the host recovery chose (``one.vm.migrate``, live=false).
A VM that lands in BOOT_FAILURE/PROLOG_FAILURE is recovered with
``one.vm.recover(id, retry)`` (or delete-recreate, back to PENDING, when
retry is refused) and the failure is raised as a
transient error carrying OpenNebula's message, so the executor's retries and
``[enactment.failure]`` policy apply. Waiting polls ``one.vm.info`` every
``action_poll`` seconds and wakes early on an event (``Directory.changed``).
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable, Mapping

from galerna.enact.driver import (
    Driver,
    HostInfo,
    HypervisorError,
    OperationKind as Op,
    OperationTimeout,
    VMInfo,
    VMSpec,
    VMState,
)
from galerna.model.lease import DiskImage
from galerna.opennebula.client import ACTION, NO_EXISTS, OneCallError, OneClient, host_uri
from galerna.config.opennebula import OpenNebulaConfig, PreemptBy
from galerna.opennebula.directory import Directory
from galerna.opennebula.objects import HostState as OneHostState, LCMState, OneVM, VMState as S
from galerna.opennebula.planbook import PlanBook
from galerna.opennebula.poolcache import PoolCache

log = logging.getLogger(__name__)

RECOVER_RETRY, RECOVER_DELETE, RECOVER_DELETE_RECREATE = 2, 3, 4
_DEPLOYABLE = {S.PENDING, S.HOLD, S.STOPPED, S.UNDEPLOYED}
_OFF_HOST = {S.PENDING, S.HOLD, S.DONE, S.INIT, S.CLONING, S.CLONING_FAILURE}


def not_found(e: OneCallError) -> bool:
    return e.code == NO_EXISTS


class OpenNebulaHostDriver(Driver):
    """One OpenNebula host as a Galerna enactment host (key ``opennebula:<id>``)."""

    def __init__(self, client: OneClient, host_id: int, directory: Directory,
                 config: OpenNebulaConfig | None = None, *, wait_timeout: float = 600.0,
                 clock: Callable[[], float] = time.monotonic, live_migration: bool = True,
                 pool: PoolCache | None = None, book: "PlanBook | None" = None,
                 timeouts: "Mapping[Op, float] | None" = None):
        self.client = client
        self.timeouts = dict(timeouts or {})  # per operation: stop polling when the executor gives up
        self.book = book  # OpenNebula 7: what the SCHED_MAD driver answers at a PLACE
        self.pool = pool or PoolCache(client)
        self.host_id = int(host_id)
        self.directory = directory
        self.config = config or OpenNebulaConfig()
        self.uri = host_uri(self.host_id)
        self.state_dir = Path("/nonexistent/opennebula")  # memory is saved on OpenNebula's system datastore
        self.wait_timeout = wait_timeout
        self.live_migration = live_migration
        self._clock = clock

    # ------------------------------------------------------------------ helpers
    def _vm_id(self, name: str, op: Op) -> int:
        e = self.directory.by_name(name)
        if e is None:
            raise HypervisorError(f"no OpenNebula VM is known for {name}", op=op, vm=name, host=self.uri,
                                  transient=False)
        return e.vm_id

    def _get(self, vm_id: int) -> OneVM | None:
        try:
            return self.client.vm(vm_id)
        except OneCallError as e:
            if not_found(e):
                return None
            raise

    def _info(self, name: str, vm: OneVM | None) -> VMInfo:
        e = self.directory.by_name(name)
        lease = e.lease_id if e else None
        if vm is None:
            return VMInfo(name, VMState.ABSENT, self.uri, lease_id=lease)
        mem = int(vm.memory or 0)
        vcpus = int(vm.template.get("VCPU") or max(1, round(vm.cpu)))
        return VMInfo(name, self.vm_state(vm), self.uri, vcpus=vcpus, memory_mb=mem, uuid=str(vm.id),
                      managed=e is not None, lease_id=lease,
                      deployment=str(vm.user_template.get("GALERNA_DEPLOYMENT") or "") or None)

    def vm_state(self, vm: OneVM) -> VMState:
        """What the VM is *on this host*, in Galerna's terms."""
        if vm.state in _OFF_HOST or vm.host_id != self.host_id:
            return VMState.ABSENT
        if vm.state in (S.STOPPED, S.UNDEPLOYED, S.SUSPENDED):
            return VMState.SUSPENDED
        if vm.state == S.POWEROFF:
            return VMState.SHUTOFF
        if vm.state == S.ACTIVE:
            if vm.lcm_state == LCMState.UNKNOWN or vm.failed():
                # UNKNOWN: oned lost it with its host. Listed only once oned monitors the host again (list() raises
                # before), and then it is not running there: crashed, so recovery restarts it after its grace period
                return VMState.CRASHED
            return VMState.RUNNING  # RUNNING, or on its way there (PROLOG, BOOT, MIGRATE...)
        return VMState.UNKNOWN

    def _wait(self, vm_id: int, name: str, op: Op, done: Callable[[OneVM | None], bool],
              timeout: float | None = None) -> OneVM | None:
        """Poll until ``done(vm)``; a failure LCM state is recovered to PENDING and raised."""
        if timeout is None:
            timeout = min(self.wait_timeout, self.timeouts.get(op, self.wait_timeout))
        limit = self._clock() + timeout
        while True:
            seen = self.directory.version()
            vm = self._get(vm_id)
            if done(vm):
                return vm
            if vm is not None and vm.failed():
                self._recover_failed(vm, name, op)
            if self._clock() >= limit:
                raise OperationTimeout(op, timeout, vm=name, host=self.uri)
            self.directory.wait_change(seen, min(self.config.action_poll, max(0.0, limit - self._clock())))

    def _recover_failed(self, vm: OneVM, name: str, op: Op) -> None:
        """Ask oned to retry the failed boot/prolog (the executor's next try then waits for it), else to put the VM
        back to PENDING (delete-recreate); either way the failure is raised, so the executor counts it."""
        reason = _error_of(vm) or f"VM {vm.id} went to {vm.state_name}"
        for how in (RECOVER_RETRY, RECOVER_DELETE_RECREATE):
            try:
                self.client.call("vm.recover", vm.id, how, vm=vm.id)
                break
            except OneCallError as e:
                log.warning("recover (%d) of VM %d after %s failed: %s", how, vm.id, vm.state_name, e)
        raise HypervisorError(f"{vm.state_name}: {reason}", op=op, vm=name, host=self.uri, transient=True)

    def _running_here(self, vm: OneVM | None) -> bool:
        return vm is not None and vm.running() and vm.host_id == self.host_id

    # ------------------------------------------------------------------ lifecycle
    def deploy(self, spec: VMSpec) -> VMInfo:
        if spec.deployment:  # the deployment stamp (enact/identity.py), in the VM's user template
            try:
                self.client.update(self._vm_id(spec.name, Op.DEPLOY), f'GALERNA_DEPLOYMENT = "{spec.deployment}"')
            except OneCallError as e:
                log.warning("could not stamp VM %s with the deployment id: %s", spec.name, e)
        return self._place(spec.name, Op.DEPLOY)

    def resume(self, name: str, state_file: str | None = None) -> VMInfo:
        vm_id = self._vm_id(name, Op.RESUME)
        vm = self._get(vm_id)
        if vm is not None and vm.state == S.SUSPENDED and vm.host_id == self.host_id:
            self.client.action("resume", vm_id)  # suspended by someone else: it only resumes in place
            return self._info(name, self._wait(vm_id, name, Op.RESUME, self._running_here))
        return self._place(name, Op.RESUME)

    def _place(self, name: str, op: Op) -> VMInfo:
        vm_id = self._vm_id(name, op)
        vm = self._get(vm_id)
        if vm is None or vm.state == S.DONE:
            raise HypervisorError(f"OpenNebula VM {vm_id} is gone", op=op, vm=name, host=self.uri, transient=False)
        if vm.failed():
            self._recover_failed(vm, name, op)
        if vm.state == S.ACTIVE and vm.lcm_state == LCMState.UNKNOWN:
            # its host was lost: boot it again in place, or move it cold (PROLOG_MIGRATE_UNKNOWN)
            if vm.host_id == self.host_id:
                self.client.action("resume", vm_id)
            else:
                self.client.migrate(vm_id, self.host_id, live=False, ds_id=self.config.system_datastore, enforce=True)
        elif vm.state == S.ACTIVE and vm.host_id == self.host_id:
            pass  # already deployed here (a retry, or the SCHED_MAD plan was first): wait for it
        elif vm.state == S.ACTIVE:
            raise HypervisorError(f"OpenNebula VM {vm_id} is {vm.state_name} on host {vm.host_id}", op=op, vm=name,
                                  host=self.uri, transient=False)
        elif vm.state in _DEPLOYABLE:
            if self.book is not None:
                self.book.want(vm_id, self.host_id)
            try:
                self.client.deploy(vm_id, self.host_id, self.config.system_datastore, enforce=True)
            except OneCallError as e:
                again = self._get(vm_id)
                if not (again is not None and again.state == S.ACTIVE and again.host_id == self.host_id):
                    if self.book is not None:
                        self.book.drop(vm_id)
                    # capacity refused ("does not fit") or a lost race: worth another try, later
                    raise HypervisorError(e.hypervisor_message, op=op, vm=name, host=self.uri, code=e.code,
                                          transient=e.transient or e.code == ACTION) from None
        else:
            raise HypervisorError(f"OpenNebula VM {vm_id} is {vm.state_name}: cannot deploy", op=op, vm=name,
                                  host=self.uri, transient=False)
        try:
            return self._info(name, self._wait(vm_id, name, op, self._running_here))
        finally:
            if self.book is not None:
                self.book.drop(vm_id)

    def start(self, name: str) -> VMInfo:
        vm_id = self._vm_id(name, Op.START)
        vm = self._get(vm_id)
        if self._running_here(vm):
            return self._info(name, vm)
        if vm is not None and vm.state == S.POWEROFF:
            self.client.action("resume", vm_id)
            return self._info(name, self._wait(vm_id, name, Op.START, self._running_here))
        return self._place(name, Op.START)

    def suspend(self, name: str, state_file: str | None = None) -> VMInfo:
        """Free the host: ``stop`` (memory saved on the system datastore) or ``undeploy``."""
        vm_id = self._vm_id(name, Op.SUSPEND)
        vm = self._get(vm_id)
        target = S.STOPPED if self.config.preempt is PreemptBy.STOP else S.UNDEPLOYED
        if vm is None or vm.state == S.DONE:
            raise HypervisorError(f"OpenNebula VM {vm_id} is gone", op=Op.SUSPEND, vm=name, host=self.uri,
                                  transient=False)
        if vm.state not in (S.STOPPED, S.UNDEPLOYED):
            self.client.action(self.config.preempt.value, vm_id)
        vm = self._wait(vm_id, name, Op.SUSPEND, lambda v: v is not None and v.state in (target, S.STOPPED,
                                                                                          S.UNDEPLOYED))
        info = self._info(name, vm)
        return VMInfo(info.name, VMState.SUSPENDED, self.uri, info.vcpus, info.memory_mb, info.uuid, info.managed,
                      info.lease_id, state_file=f"opennebula:{target.name.lower()}")

    def shutdown(self, name: str, timeout: float = 30.0) -> VMInfo:
        """Lease end: ``terminate``; ``terminate-hard`` if it is not DONE after ``terminate_timeout``."""
        vm_id = self._vm_id(name, Op.SHUTDOWN)
        self.directory.end_lease(self.directory.by_name(name).lease_id)
        vm = self._get(vm_id)
        if vm is None or vm.state == S.DONE:
            return self._info(name, None)
        gone = lambda v: v is None or v.state == S.DONE  # noqa: E731
        try:
            self.client.action("terminate", vm_id)
            self._wait(vm_id, name, Op.SHUTDOWN, gone, timeout=self.config.terminate_timeout)
        except (OneCallError, OperationTimeout) as e:
            log.info("terminate of VM %d did not finish (%s); terminate-hard", vm_id, e)
            self._hard_terminate(vm_id, name)
        return self._info(name, None)

    def _hard_terminate(self, vm_id: int, name: str) -> None:
        try:
            self.client.action("terminate-hard", vm_id)
        except OneCallError as e:
            if not_found(e):
                pass
            elif e.code == ACTION:
                # oned refuses to terminate a VM in BOOT or PROLOG: after a deploy that failed for good, the
                # recover-retry of its last failure is still booting it. Its lease is over: delete it, as an operator
                # would (`onevm recover --delete`), so that it neither keeps its host's capacity nor boots later.
                log.info("terminate-hard of VM %d refused (%s); recover delete", vm_id, e)
                self.client.call("vm.recover", vm_id, RECOVER_DELETE, vm=vm_id)
            else:
                raise
        self._wait(vm_id, name, Op.DESTROY, lambda v: v is None or v.state == S.DONE)

    def destroy(self, name: str) -> VMInfo:
        vm_id = self._vm_id(name, Op.DESTROY)
        entry = self.directory.by_name(name)
        vm = self._get(vm_id)
        if vm is None or vm.state == S.DONE:
            return self._info(name, None)
        if entry is not None and self.directory.is_over(entry.lease_id):
            self._hard_terminate(vm_id, name)
            return self._info(name, None)
        if self.vm_state(vm) is VMState.ABSENT or vm.state == S.UNDEPLOYED:
            return self._info(name, vm)  # not on this host: nothing to free here
        self.client.action("undeploy-hard", vm_id)
        vm = self._wait(vm_id, name, Op.DESTROY, lambda v: v is None or v.state in (S.UNDEPLOYED, S.DONE))
        return VMInfo(name, VMState.ABSENT, self.uri, lease_id=entry.lease_id if entry else None)

    def pause(self, name: str) -> VMInfo:
        return self._simple(name, Op.PAUSE, "suspend", lambda v: v is not None and v.state == S.SUSPENDED)

    def unpause(self, name: str) -> VMInfo:
        return self._simple(name, Op.UNPAUSE, "resume", self._running_here)

    def reboot(self, name: str) -> VMInfo:
        return self._simple(name, Op.REBOOT, "reboot", self._running_here)

    def reset(self, name: str) -> VMInfo:
        return self._simple(name, Op.RESET, "reboot-hard", self._running_here)

    def _simple(self, name: str, op: Op, action: str, done: Callable[[OneVM | None], bool]) -> VMInfo:
        vm_id = self._vm_id(name, op)
        self.client.action(action, vm_id)
        return self._info(name, self._wait(vm_id, name, op, done))

    # ------------------------------------------------------------------ migration
    def can_migrate_live(self, dest: Driver) -> bool:
        """Always, between hosts of one oned: OpenNebula moves the VM itself (no state file for Galerna to carry)."""
        return isinstance(dest, OpenNebulaHostDriver) and dest.client is self.client

    def migrate_live(self, name: str, dest: Driver) -> VMInfo:
        """``one.vm.migrate``: live when ``live_migration`` is on, else cold (save, move, restore by oned)."""
        assert isinstance(dest, OpenNebulaHostDriver)
        vm_id = self._vm_id(name, Op.MIGRATE)
        vm = self._get(vm_id)
        if vm is not None and vm.state in (S.STOPPED, S.UNDEPLOYED):
            # a preempted lease resuming elsewhere: its saved state is on the system datastore, and oned moves it
            # when it deploys the VM on the new host (PROLOG_RESUME, BOOT_STOPPED). That is the cold migration;
            # one.vm.migrate is refused for a STOPPED VM.
            return dest._place(name, Op.MIGRATE)
        if not dest._running_here(vm):
            self.client.migrate(vm_id, dest.host_id, live=self.live_migration, ds_id=self.config.system_datastore,
                                enforce=True)
        return dest._info(name, dest._wait(vm_id, name, Op.MIGRATE, dest._running_here))

    def forget(self, name: str) -> None:
        """Nothing is left on a host a VM moved away from: OpenNebula cleans up itself."""

    # ------------------------------------------------------------------ observation
    def inspect(self, name: str) -> VMInfo:
        e = self.directory.by_name(name)
        if e is None:
            return VMInfo(name, VMState.ABSENT, self.uri, managed=False)
        return self._info(name, self._get(e.vm_id))

    def list(self) -> list[VMInfo]:
        """Galerna's VMs on this host (others are listed unmanaged, never touched).

        A host OpenNebula does not monitor (ERROR, OFFLINE, DISABLED) raises a lost connection, so the
        monitor marks it in error and the recovery policy of the libvirt mode applies to its VMs."""
        h = self._host()
        if h.state not in (OneHostState.MONITORED, OneHostState.MONITORING_MONITORED):
            raise HypervisorError(f"OpenNebula host {h.id} ({h.name}) is {OneHostState(h.state).name}",
                                  op=Op.LIST, host=self.uri, transient=True, connection_lost=True)
        out = []
        for vm in self.pool.vms():
            if vm.host_id != self.host_id or self.vm_state(vm) is VMState.ABSENT:
                continue
            e = self.directory.by_vm(vm.id)
            name = e.name if e else f"opennebula-vm-{vm.id}"
            info = self._info(name, vm)
            out.append(info if e else VMInfo(name, info.state, self.uri, info.vcpus, info.memory_mb, info.uuid,
                                             managed=False))
        return out

    def host_info(self) -> HostInfo:
        h = self._host()
        # cores as OpenNebula counts them (MAX_CPU / 100): 150 is 1.5 cores, and the core plans fractional cpu
        return HostInfo(self.uri, "opennebula", h.cpu, int(h.memory), reachable=h.monitored)

    def _host(self):
        from galerna.opennebula.objects import host_from_binding

        return host_from_binding(self.client.call("host.info", self.host_id))

    def alive(self) -> bool:
        try:
            return self._host().state in (OneHostState.MONITORED, OneHostState.MONITORING_MONITORED)
        except OneCallError:
            return False

    def stage_image(self, image: DiskImage, source: str | None = None) -> str:
        """OpenNebula's transfer manager copies images itself (PROLOG): nothing to do here."""
        return f"opennebula-datastore:{image.id}"

    def default_state_file(self, name: str) -> str:
        return "opennebula:stopped"


def _error_of(vm: OneVM) -> str:
    for t in (vm.user_template, vm.template):
        v = t.get("ERROR")
        if isinstance(v, dict):
            return str(v.get("MESSAGE") or "")
        if v:
            return str(v)
    return ""


def keep_state(path: str, src: Driver, dest: Driver) -> str:
    """The executor's state mover in OpenNebula mode: saved memory stays on the system datastore."""
    return path
