"""Whose VM is it: the deployment id stamped on each VM Galerna creates, and the one rule that reads it.

A deployment is one database: its id is made with the database (``store``'s ``meta`` table) and stamped on
every VM it creates (libvirt: the ``deployment`` attribute of the ``<galerna:vm>`` metadata element;
OpenNebula: the ``GALERNA_DEPLOYMENT`` user-template attribute). Reconciliation, orphan clean-up and recovery
act only on VMs of their own deployment. A VM stamped by another deployment, or an unstamped Galerna VM the
database does not know, is *foreign*: reported, never destroyed, until an operator says so.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Foreign:
    """A Galerna VM on one of our hosts that is not this deployment's: left alone, and reported."""

    vm: str
    host: str  # URI
    deployment: str | None  # the id stamped on it; None: an unstamped VM (made before stamps, or by hand)
    lease_id: str | None = None
    state: str = ""


def ours(stamp: str | None, deployment: str | None, *, known: bool) -> bool:
    """May this deployment act on a VM carrying ``stamp``? Without an id of our own (``deployment`` None) every
    Galerna VM is ours, as before stamps. An unstamped VM is ours only when the database names it (``known``): a
    VM made before stamps existed is adopted by the database that knows it, and destroyed by nobody."""
    if deployment is None:
        return True
    if stamp is None:
        return known
    return stamp == deployment


def describe_owner(stamp: str | None) -> str:
    """Whose a foreign VM is, in words for a message."""
    return f"deployment {stamp}" if stamp else "no known deployment (unstamped)"


def left_alone(driver, vm: str, deployment: str | None, known: bool):  # noqa: ANN001 - a Driver
    """Before a VM is stopped or destroyed by name: its state when it is another deployment's (the caller leaves
    it alone and reports that), else None (go ahead). Costs one inspect, only when ``deployment`` is set."""
    if deployment is None:
        return None
    info = driver.inspect(vm)
    if info.deployment is None and info.state.value == "absent":
        return None  # nothing there: the removal is a no-op anyway
    return None if ours(info.deployment, deployment, known=known) else info
