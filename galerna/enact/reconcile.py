"""Reconciliation after a daemon restart: the database's view against what hypervisors run.

Given the VMs the database says exist (and what each should be), every host
is listed once and each VM is

* adopted where it runs (also on another host than recorded: it moved);
* restarted (restored from its state file, or cold from its image) when it
  should run and its host answers but does not run it;
* suspended when it should be suspended but runs;
* stopped when it should be gone but runs;
* reported unknown when its host does not answer: nothing is started
  anywhere else, so no VM is ever started twice;
* destroyed where it runs twice (the copy on the recorded host is kept).

Galerna's VMs (by metadata or name prefix) the database does not know are
cleaned up (or kept, per ``orphans``) when they carry this deployment's id;
a VM of another deployment, or an unstamped one, is reported ``foreign`` and
never touched (:mod:`galerna.enact.identity`). All actions run through the
executor, so through the gate.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Iterable, Mapping

from galerna.enact.driver import Driver, HostState, OperationKind as Op, VMInfo, VMSpec, VMState
from galerna.enact.executor import Action, ActionResult, Executor
from galerna.enact.identity import describe_owner, ours
from galerna.enact.inventory import Desired, Inventory, VMRecord
from galerna.enact.retry import call_with_timeout

log = logging.getLogger(__name__)

RUNNING = (VMState.RUNNING, VMState.PAUSED)


@dataclass(frozen=True)
class Expected:
    """One VM as the database knows it."""

    spec: VMSpec
    host: str
    desired: Desired = Desired.RUNNING
    state_file: str | None = None


class Verdict(StrEnum):
    ADOPT = "adopt"
    MOVED = "moved"  # adopted on another host than recorded
    RESTART = "restart"  # cold from its image
    RESTORE = "restore"  # from its state file
    SUSPEND = "suspend"
    STOP = "stop"
    DESTROY_DUPLICATE = "destroy-duplicate"
    CLEANUP_ORPHAN = "cleanup-orphan"
    KEEP_ORPHAN = "keep-orphan"
    FOREIGN = "foreign"  # a VM of another deployment (or unstamped and unknown): reported, left alone
    UNKNOWN = "unknown"  # its host does not answer
    MISSING = "missing"  # should be suspended, but its saved state is gone
    GONE = "gone"  # should be gone and is


@dataclass
class Entry:
    vm: str
    verdict: Verdict
    host: str
    lease_id: str | None = None
    detail: str = ""
    result: ActionResult | None = None
    deployment: str | None = None  # the stamp on the VM (FOREIGN entries)

    @property
    def ok(self) -> bool:
        return self.result is None or self.result.ok


def survey(drivers: Mapping[str, Driver], timeout: float = 30.0) -> dict[str, dict[str, VMInfo] | None]:
    """What each host runs (None for a host that does not answer)."""
    out: dict[str, dict[str, VMInfo] | None] = {}
    for uri, d in drivers.items():
        try:
            out[uri] = {i.name: i for i in call_with_timeout(d.list, timeout, op=Op.LIST, host=uri)}
        except Exception as e:  # noqa: BLE001
            log.warning("reconcile: host %s does not answer: %s", uri, e)
            out[uri] = None
    return out


def plan(
    expected: Iterable[Expected],
    seen: Mapping[str, Mapping[str, VMInfo] | None],
    *,
    orphans: str = "destroy",
    prefix: str = "galerna",
    deployment: str | None = None,
) -> tuple[list[Entry], list[Action]]:
    """Pure decision step: verdicts and the actions that carry them out. With ``deployment``, only VMs of that
    deployment are acted on; the others are FOREIGN entries."""
    entries: list[Entry] = []
    actions: list[Action] = []
    known: set[str] = set()

    def foreign(info: VMInfo, host: str) -> None:
        entries.append(Entry(info.name, Verdict.FOREIGN, host, info.lease_id,
                             f"a VM of {describe_owner(info.deployment)}", deployment=info.deployment))

    for e in expected:
        name, lease = e.spec.name, e.spec.lease_id
        known.add(name)
        copies = {u: vms[name] for u, vms in seen.items() if vms and name in vms}
        for u, info in list(copies.items()):
            if not ours(info.deployment, deployment, known=True):
                foreign(info, u)
                del copies[u]
        running = [u for u, info in copies.items() if info.state in RUNNING]
        here = seen.get(e.host)
        here_info = copies.get(e.host)

        def add(verdict: Verdict, host: str, action: Action | None = None, detail: str = "") -> None:
            entries.append(Entry(name, verdict, host, lease, detail))
            if action is not None:
                actions.append(action)

        if e.desired is Desired.ABSENT:
            for u in running:
                add(Verdict.STOP, u, Action(Op.DESTROY, name, u, lease_id=lease, stale=True))
            for u, info in copies.items():
                if info.state not in RUNNING:
                    add(Verdict.STOP, u, Action(Op.DESTROY, name, u, lease_id=lease, stale=True))
            if not any(v.verdict is Verdict.STOP and v.vm == name for v in entries):
                add(Verdict.GONE, e.host)
            continue
        if running:
            keep = e.host if e.host in running else running[0]
            for u in running:
                if u != keep:
                    add(Verdict.DESTROY_DUPLICATE, u, Action(Op.DESTROY, name, u, lease_id=lease, stale=True))
            verdict = Verdict.ADOPT if keep == e.host else Verdict.MOVED
            if e.desired is Desired.SUSPENDED:
                add(Verdict.SUSPEND, keep, Action(Op.SUSPEND, name, keep, state_file=e.state_file, lease_id=lease,
                                                  tenant=e.spec.tenant), detail="ran although recorded as suspended")
            else:
                add(verdict, keep)
            continue
        if here is None:
            add(Verdict.UNKNOWN, e.host, detail="host does not answer")
            continue
        if name in here and e.host not in copies:
            continue  # another deployment's VM has its name there: reported above, nothing started over it
        saved = here_info is not None and here_info.state is VMState.SUSPENDED
        if e.desired is Desired.SUSPENDED:
            if saved:
                add(Verdict.ADOPT, e.host)
            else:
                add(Verdict.MISSING, e.host, detail="saved state not found")
            continue
        if saved:
            add(Verdict.RESTORE, e.host, Action(Op.RESUME, name, e.host, state_file=here_info.state_file,
                                                lease_id=lease, tenant=e.spec.tenant))
        else:
            add(Verdict.RESTART, e.host, Action.deploy(e.spec, e.host))
    for u, vms in seen.items():
        for name, info in (vms or {}).items():
            if name in known or not (info.managed and name.startswith(prefix + "-")) and info.lease_id is None:
                continue
            if not ours(info.deployment, deployment, known=False):
                foreign(info, u)
                continue
            if orphans == "keep":
                entries.append(Entry(name, Verdict.KEEP_ORPHAN, u, info.lease_id))
            else:
                entries.append(Entry(name, Verdict.CLEANUP_ORPHAN, u, info.lease_id))
                actions.append(Action(Op.DESTROY, name, u, lease_id=info.lease_id, stale=True))
    return entries, actions


def reconcile(
    expected: Iterable[Expected],
    executor: Executor,
    *,
    orphans: str = "destroy",
    timeout: float | None = None,
    deployment: str | None = None,
) -> list[Entry]:
    """Survey every host, seed the executor's inventory, carry out the plan; returns what was decided and done."""
    expected = list(expected)
    seen = survey(executor.drivers)
    inv: Inventory = executor.inventory
    for uri, vms in seen.items():
        inv.hosts[uri] = HostState.ERROR if vms is None else HostState.UP
    entries, actions = plan(expected, seen, orphans=orphans, prefix=executor.config.vm_prefix, deployment=deployment)
    by_name = {e.spec.name: e for e in expected}
    for entry in entries:
        e = by_name.get(entry.vm)
        if e is None or entry.verdict in (Verdict.DESTROY_DUPLICATE, Verdict.GONE, Verdict.STOP, Verdict.MISSING,
                                          Verdict.FOREIGN):
            continue
        vms = seen.get(entry.host) or {}
        info = vms.get(entry.vm)
        observed = VMState.UNKNOWN if entry.verdict is Verdict.UNKNOWN else (info.state if info else VMState.ABSENT)
        inv.put(VMRecord(e.spec, entry.host, e.desired, observed,
                         state_file=(info.state_file if info else None) or e.state_file))
    futures = [executor.submit(a) for a in actions]
    results = [f.result(timeout) for f in futures]
    # attach results to the entries that asked for them
    acting = [en for en in entries if en.verdict in (Verdict.RESTART, Verdict.RESTORE, Verdict.SUSPEND, Verdict.STOP,
                                                    Verdict.DESTROY_DUPLICATE, Verdict.CLEANUP_ORPHAN)]
    for en, r in zip(acting, results):
        en.result = r
        if not r.ok:
            log.warning("reconcile: %s %s on %s failed: %s", en.verdict.value, en.vm, en.host, r.error)
    return entries
