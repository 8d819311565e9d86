"""What a lease's state does when one of its phases starts or ends: tables by activity.

``ON_START[activity]`` and ``ON_END[activity]`` step the lease through its state
machine (``model/state.py`` checks every transition) and move it between the
ledger's lists; the front door calls them from its one stepping loop and emits
the PHASE_STARTED / PHASE_ENDED notices itself. A *lost* phase (a run that
cancel-and-requeue or a failed start threw away) ends by requeueing the lease
instead (:func:`end_lost`).
"""
from __future__ import annotations

from typing import Callable

from galerna.model.state import LeaseState as S
from galerna.schedule.book import Book
from galerna.schedule.lease import Activity, Lease, Phase
from galerna.schedule.timeline import EPS
from galerna.schedule.timing import Timing

A = Activity
Handler = Callable[[Book, Lease, Phase], None]


def _start_transfer(book: Book, lease: Lease, p: Phase) -> None:
    if lease.state is S.SCHEDULED:
        lease.to(S.PREPARING)


def _start_vms(book: Book, lease: Lease, p: Phase) -> None:  # boot, or a run with no boot before it
    if lease.state is S.PREPARING:
        lease.to(S.READY)
    if lease.state in (S.SCHEDULED, S.READY):
        lease.to(S.ACTIVE)
        book.unlist(lease)
    lease.hosts = p.hosts
    lease.booted = True


def _start_suspend(book: Book, lease: Lease, p: Phase) -> None:
    lease.to(S.SUSPENDING)


def _start_migrate(book: Book, lease: Lease, p: Phase) -> None:
    lease.to(S.MIGRATING)
    book.unlist(lease)


def _start_resume(book: Book, lease: Lease, p: Phase) -> None:
    if lease.state in (S.SUSPENDED_SCHEDULED, S.MIGRATING):
        lease.to(S.RESUMING)
    book.unlist(lease)
    lease.hosts = p.hosts


def _nothing(book: Book, lease: Lease, p: Phase) -> None:
    pass


ON_START: dict[Activity, Handler] = {
    A.TRANSFER: _start_transfer,
    A.BOOT: _start_vms,
    A.RUN: _start_vms,
    A.SUSPEND: _start_suspend,
    A.MIGRATE: _start_migrate,
    A.RESUME: _start_resume,
    A.SHUTDOWN: _nothing,
}


def _end_run(book: Book, lease: Lease, p: Phase) -> None:
    lease.remaining -= p.end - p.start
    if lease.remaining < EPS:
        lease.remaining = 0.0


def _end_suspend(book: Book, lease: Lease, p: Phase) -> None:
    lease.to(S.SUSPENDED_PENDING)
    lease.suspensions += 1
    if lease.phases:
        lease.to(S.SUSPENDED_SCHEDULED)
        book.reserved.add(lease)
    else:
        lease.to(S.SUSPENDED_QUEUED)
        book.queue.add(lease)


def _end_migrate(book: Book, lease: Lease, p: Phase) -> None:
    lease.to(S.SUSPENDED_SCHEDULED)
    lease.hosts = p.hosts


def _end_resume(book: Book, lease: Lease, p: Phase) -> None:
    lease.to(S.ACTIVE)


def _end_transfer(book: Book, lease: Lease, p: Phase) -> None:
    # A lease already READY may need a second transfer after being moved to other hosts.
    if lease.state is S.PREPARING and not (lease.phases and lease.phases[0].activity is A.TRANSFER):
        lease.to(S.READY)


ON_END: dict[Activity, Handler] = {
    A.TRANSFER: _end_transfer,
    A.BOOT: _nothing,
    A.RUN: _end_run,
    A.SUSPEND: _end_suspend,
    A.MIGRATE: _end_migrate,
    A.RESUME: _end_resume,
    A.SHUTDOWN: _nothing,
}


def end_lost(book: Book, timing: Timing, lease: Lease, p: Phase) -> None:
    """A lost run (or boot) ended: its work is thrown away and the lease queued again."""
    lease.lost.append(p)
    lease.remaining = timing.run_time(lease.req.duration)
    lease.hosts = None
    lease.booted = False
    lease.to(S.QUEUED)
    book.queue.add(lease)
