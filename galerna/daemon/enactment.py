"""Enactment from the daemon's side: the core's events become hypervisor actions; their results come back, and a
failure decides the lease's fate from ONE policy table (:func:`fate`). The executor only reports."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select, update

from galerna.enact.config import FailureOutcome, FailurePolicy
from galerna.enact.driver import HostState, OperationKind as Op, VMSpec, vm_name
from galerna.enact.executor import Action, ActionResult
from galerna.enact.inventory import Desired
from galerna.model.lease import LeaseRequest, LeaseType
from galerna.model.state import LeaseState as S
from galerna.schedule.lease import Activity as A, Phase
from galerna.schedule.plan import ChangeRefused, Event, Notice, PreemptMode
from galerna.store.models import ActionRow

from galerna.daemon import snapshot as snap
from galerna.daemon.hosts import HostRegistry
from galerna.daemon.journal import Journal
from galerna.daemon.notify import Notifier
from galerna.daemon.settings import Settings
from galerna.daemon.state import Live

log = logging.getLogger("galerna.daemon")

MAX_ENACT_REQUEUES = 3  # a lease whose VMs failed to start this many times fails


# ==================================================================== the failure policy
class Fate(StrEnum):
    """What a final failure of an action does to its lease."""

    NONE = "none"  # nothing: the lease was ending anyway (shutdown, destroy)
    REQUEUE = "requeue"  # back through the core's queue; its run is lost (a resuming lease keeps its progress)
    RESCHEDULE = "reschedule"  # the same, never again on the host that failed
    FAIL = "fail"  # the lease fails with the hypervisor's message


_STARTS = (Op.DEPLOY, Op.START, Op.RESUME)  # the lease's VMs did not come up: it can start again elsewhere


def outcome(kind: Op, policy: FailurePolicy) -> FailureOutcome:
    """The configured ``[enactment.failure]`` outcome for a failed action of ``kind``."""
    return {Op.DEPLOY: policy.deploy, Op.START: policy.deploy, Op.RESUME: policy.resume, Op.MIGRATE: policy.migrate,
            Op.SUSPEND: policy.suspend}.get(kind, policy.other)


def fate(kind: Op, policy: FailurePolicy, requeues: int) -> tuple[Fate, str]:
    """The one table: a lease whose action of ``kind`` failed for good, after ``requeues`` earlier requeues for
    enactment failures. Returns the fate and what to add to the reason. Only a failure to start VMs can requeue;
    a failed suspend, migrate or other operation leaves VMs in a state the core cannot plan from: the lease fails."""
    if kind in (Op.DESTROY, Op.SHUTDOWN):
        return Fate.NONE, ""
    out = outcome(kind, policy)
    if out is FailureOutcome.FAIL or kind not in _STARTS:
        return Fate.FAIL, ""
    if requeues >= MAX_ENACT_REQUEUES:
        return Fate.FAIL, f" (gave up after {MAX_ENACT_REQUEUES} requeues)"
    return (Fate.RESCHEDULE if out is FailureOutcome.RESCHEDULE else Fate.REQUEUE), ""


@dataclass
class _Handed:
    row: int  # its row in ``actions``
    gen: int | None  # its lease's requeue count when it was handed over


class Enactment:
    def __init__(self, live: Live, hosts: HostRegistry, journal: Journal, notifier: Notifier, settings: Settings):
        self.live, self.hosts, self.journal, self.notifier, self.settings = live, hosts, journal, notifier, settings
        self._handed: dict[int, _Handed] = {}  # action id -> what the result needs
        self._gen: dict[str, int] = {}  # lease -> times it was requeued after an enactment failure
        self._abandon: list[tuple[str, str]] = []  # (VM, host URI): to remove, but its host is in error
        self.deployment: str | None = None  # this database's deployment id, stamped on every VM (set at load)
        self.foreign: list = []  # identity.Foreign: VMs of other deployments the start-up reconcile left alone

    # ------------------------------------------------------------ events -> actions
    def vm(self, lease, i: int) -> str:
        return vm_name(lease.id, i, self.settings.enactment.vm_prefix)

    def spec(self, req: LeaseRequest, i: int) -> VMSpec:
        return VMSpec.from_lease(req, i, prefix=self.settings.enactment.vm_prefix, network=None,
                                 deployment=self.deployment)

    def actions(self, events: list[Event]) -> list[tuple[str, Action]]:
        """The hypervisor actions ``events`` call for, as (lease id, action)."""
        ex = self.hosts.executor
        if ex is None:
            return []
        core, names, uri_of = self.live.core, self.hosts.names, self.hosts.uri_of
        out = []
        for e in events:
            lease = core.leases[e.lease_id]
            hosts = [uri_of.get(names[h]) for h in e.hosts]
            mine = {"lease_id": e.lease_id, "tenant": lease.req.tenant}
            if e.notice is Notice.PHASE_STARTED:
                if e.activity is A.BOOT or (e.activity is A.RUN and not self._was_running(lease, e)):
                    out += [(e.lease_id, Action.deploy(self.spec(lease.req, i), u)) for i, u in enumerate(hosts) if u]
                elif e.activity in (A.SUSPEND, A.RESUME):
                    kind = Op.SUSPEND if e.activity is A.SUSPEND else Op.RESUME
                    out += [(e.lease_id, Action(kind, self.vm(lease, i), u, **mine)) for i, u in enumerate(hosts) if u]
                elif e.activity is A.MIGRATE:
                    old = lease.history[-1].hosts if lease.history else e.hosts
                    for i, u in enumerate(hosts):
                        src = uri_of.get(names[old[i]])
                        if u and src and src != u:
                            out.append((e.lease_id, Action(Op.MIGRATE, self.vm(lease, i), src, dest=u, **mine)))
            elif e.notice in (Notice.DONE, Notice.CANCELLED) or (e.notice is Notice.PREEMPTED and e.preemption is PreemptMode.REQUEUE):
                kind = Op.SHUTDOWN if e.notice is Notice.DONE else Op.DESTROY
                for i, h in enumerate(e.hosts or self._vm_hosts(lease)):
                    u = uri_of.get(names[h])
                    if u and ex.inventory.host_state(u) is HostState.ERROR:
                        # its host does not answer: recovery destroys the VM once it does (and a deploy of the same
                        # VM elsewhere does not wait behind a call to a dead host)
                        self._abandon.append((self.vm(lease, i), u))
                    elif u:
                        out.append((e.lease_id, Action(kind, self.vm(lease, i), u, **mine)))
        return out

    def _vm_hosts(self, lease) -> tuple[int, ...]:
        ran = [p for p in snap.full_history(lease, self.live.gone.get(lease.id, ()))
               if (p.activity if isinstance(p, Phase) else A(p["activity"])) in (A.BOOT, A.RUN, A.RESUME, A.SUSPEND)]
        # last on a host removed since: no VM of it is left anywhere Galerna can reach
        return ran[-1].hosts if ran and isinstance(ran[-1], Phase) else ()

    def _was_running(self, lease, e: Event) -> bool:
        """A run phase right after a boot or resume of the same lease: its VMs already exist."""
        prev = lease.history[-1] if lease.history else None
        return prev is not None and prev.activity in (A.BOOT, A.RESUME, A.MIGRATE) and prev.end >= e.time - 1e-6

    def hand_over(self, actions: list[tuple[int, Action]]) -> None:
        """Committed actions (row id, action) to the executor; VMs on hosts in error given up on."""
        ex = self.hosts.executor
        if ex is None:
            return
        for vm, uri in self._abandon:
            ex.inventory.abandon(vm, uri)
        self._abandon = []
        for row_id, a in actions:
            gen = None if a.lease_id is None else self._gen.get(a.lease_id, 0)
            self._handed[a.id] = _Handed(row_id, gen)
            ex.submit(a)

    def forget_host(self, uri: str) -> None:
        """A host removed: VMs on it are not given up on (they are no longer Galerna's)."""
        self._abandon = [(vm, u) for vm, u in self._abandon if u != uri]

    # ------------------------------------------------------------ results -> requeue / fail
    def result(self, r: ActionResult, t: float, touched: set[str]) -> list[Event]:
        """An action's result: its row marked done or failed; a failure of a live lease applied per :func:`fate`."""
        handed = self._handed.pop(r.action.id, None)
        if handed is not None:
            with self.hosts.store.session.begin() as s:
                s.execute(update(ActionRow).where(ActionRow.id == handed.row).values(
                    status="done" if r.ok else "failed", finished=self.hosts.clock(), error=r.error))
        lid, kind = r.action.lease_id, r.action.kind
        if r.ok or lid is None:
            return []
        lease = self.live.core.leases.get(lid)
        if lease is None or lease.state.final:
            return []
        what, more = fate(kind, self.settings.enactment.failure, self._gen.get(lid, 0))
        if what is Fate.NONE:
            return []
        if handed is not None and handed.gen is not None and handed.gen != self._gen.get(lid, 0):
            return []  # an action of a run the lease already lost (requeued since)
        host = self.hosts.name(r.action.host)
        reason = f"{kind.value} failed on {host}: {r.error}" + more
        if what is not Fate.FAIL:
            i = self.hosts.index(host)
            avoid = [i] if what is Fate.RESCHEDULE and i is not None else []
            events = self._requeue(lid, t, reason, avoid, touched, "enactment-failed", f"{reason}; {what.value}",
                                   host, what.value)
            if events is not None:
                return events
        return self.fail(lid, t, reason, touched)

    def fail(self, lid: str, t: float, reason: str, touched: set[str]) -> list[Event]:
        """The lease fails (state ``failed``, with ``reason``); its VMs are destroyed."""
        lease = self.live.core.leases[lid]
        touched.add(lid)
        self.notifier.lease("lease.failed", lease, t + self.live.epoch, reason=reason)
        return self.live.core.fail(lid, t, reason)

    def _requeue(self, lid: str, t: float, reason: str, avoid: list[int], touched: set[str], kind: str, detail: str,
                 host: str, policy: str) -> list[Event] | None:
        """Send a lease whose VMs were lost or could not start back through the core's queue (its run is lost; a
        resuming lease keeps its progress), never again on the hosts in ``avoid``. None when the core cannot requeue
        it (no started phase a hypervisor can fail).

        An advance reservation must not move: it may only restart now, elsewhere, and end when it was to end. When
        the core cannot start it at once it fails, with the reason.
        """
        core = self.live.core
        lease = core.leases[lid]
        state = self.live.state(lid)
        ar_end = None
        if lease.type is LeaseType.AR:
            runs = [p for p in lease.phases if p.activity is A.RUN]
            ar_end = runs[-1].end if runs else None
        events = core.advance(t)  # what a host change earlier in the batch left pending, before the requeue
        more = core.requeue(lid, t, reason, tuple(avoid))
        if more is None:
            return None
        events += more
        self._gen[lid] = self._gen.get(lid, 0) + 1
        self.journal.note(lid, t + self.live.epoch, kind, detail, [host], state)  # its state when its VMs were lost
        touched.add(lid)
        self.notifier.lease("lease.requeued", lease, t + self.live.epoch, reason=reason, policy=policy)
        if ar_end is not None:
            events += self._hold_ar(lid, t, ar_end, reason, touched)
        return events

    def _hold_ar(self, lid: str, t: float, end: float, reason: str, touched: set[str]) -> list[Event]:
        """After a requeue: an AR that restarted now keeps its end; one that did not fails."""
        lease = self.live.core.leases[lid]
        if lease.state.final:
            return []
        if lease.phases and lease.phases[0].started and end > t:
            runs = [p for p in lease.phases if p.activity is A.RUN]
            if runs and runs[-1].end > end + 1e-6:
                try:
                    return self.live.core.change_end(lid, end, t)
                except ChangeRefused:
                    log.warning("AR %s restarted elsewhere but could not keep its end", lid)
            return []
        why = (f"{reason}; an advance reservation cannot be moved and no other host can run it now"
               if end > t else f"{reason}; the advance reservation was over")
        return self.fail(lid, t, why, touched)

    def outage_requeue(self, lid: str, host: str, t: float, touched: set[str]) -> list[Event]:
        """``recovery.mode = "reschedule"``: the host has been in error longer than the grace period, was fenced (the
        fencing command, when configured, ran and succeeded) and recovery gave up its VMs. The lease goes back
        through the core's queue, never again on that host, and starts elsewhere cold. Once per lease: when the
        last of its VMs on that host has been given up."""
        lease = self.live.core.leases.get(lid)
        h = self.hosts.index(host)
        if lease is None or lease.state.final or h is None:
            return []
        if lease.hosts is None or h not in lease.hosts:
            return []  # already requeued (another VM of the lease), or it has moved on
        uri = self.hosts.uri_of.get(host)
        ex = self.hosts.executor
        if ex is not None and any(r.spec.lease_id == lid and r.desired is not Desired.ABSENT
                                  for r in ex.inventory.on_host(uri)):
            return []  # recovery has not given up all its VMs there yet: the last one's event requeues
        grace = self.settings.enactment.recovery.grace_period
        reason = f"host {host} did not answer for more than {grace:g} s"
        events = self._requeue(lid, t, reason, [h], touched, "recovery",
                               f"reschedule: {reason}; requeued, never again on {host}", host, "reschedule")
        if events is None:
            return self.fail(lid, t, f"{reason}; its VMs are lost", touched)
        return events

    # ------------------------------------------------------------ start-up
    def desired(self, lease) -> Desired | None:
        st = lease.state
        if st in (S.ACTIVE, S.SUSPENDING, S.RESUMING) or (lease.booted and st in (S.SCHEDULED, S.READY)):
            return Desired.RUNNING
        if st in (S.SUSPENDED_PENDING, S.SUSPENDED_QUEUED, S.SUSPENDED_SCHEDULED, S.MIGRATING):
            return Desired.SUSPENDED
        return None

    def reconcile(self) -> list[tuple[str, str, str]]:
        """Actions in flight at the last stop are checked against the hypervisors, not re-run. Returns (VM, verdict,
        host) per VM."""
        from galerna.enact.identity import Foreign
        from galerna.enact.reconcile import Expected, Verdict, reconcile

        ex, names, clock = self.hosts.executor, self.hosts.names, self.hosts.clock
        expected = []
        for lease in self.live.core.leases.values():
            desired = self.desired(lease)
            if desired is None or lease.hosts is None:
                continue
            for i, h in enumerate(lease.hosts):
                uri = self.hosts.uri_of.get(names[h])
                if uri:
                    expected.append(Expected(self.spec(lease.req, i), uri, desired))
        with self.hosts.store.session.begin() as s:
            pending = list(s.scalars(select(ActionRow).where(ActionRow.status == "pending")))
            for a in pending:
                a.status = "reconciled"
                a.finished = clock()
        entries = reconcile(expected, ex, orphans=self.settings.enactment.recovery.orphans, timeout=120,
                            deployment=self.deployment)
        self.foreign = [Foreign(e.vm, e.host, e.deployment, e.lease_id) for e in entries if e.verdict is Verdict.FOREIGN]
        log.info("reconciled with the hypervisors",
                 extra={"vms": len(entries), "pending_actions": len(pending),
                        "verdicts": sorted({e.verdict.value for e in entries})})
        return [(e.vm, e.verdict.value, self.hosts.name(e.host)) for e in entries]
