"""Host selection: in which order the mapper fills hosts with a lease's VMs.

Each policy gets, for every candidate host, the free capacity left over the
whole window and the number of breakpoints on its timeline (a proxy for how
many leases it carries), and returns the hosts in fill order plus whether to
fill one host fully before moving on (packing, greedy) or to spread one VM per
host per round (striping).
"""
from __future__ import annotations

from typing import Callable, Sequence

from galerna.config.schema import HostSelection

# (host index, free vector over the window, load) -> ordering
HostInfo = tuple[int, Sequence[float], int]
Ordering = Callable[[list[HostInfo]], tuple[list[int], bool]]


def greedy(hosts: list[HostInfo]) -> tuple[list[int], bool]:
    """Prefer hosts carrying fewer leases, then with more free capacity (Haizea's greedy)."""
    hosts.sort(key=lambda h: (h[2], -h[1][0], -h[1][1], h[0]))
    return [h[0] for h in hosts], True


def packing(hosts: list[HostInfo]) -> tuple[list[int], bool]:
    """Best fit: fill the fullest host that still fits, keep big holes for big leases."""
    hosts.sort(key=lambda h: (h[1][0], h[1][1], h[0]))
    return [h[0] for h in hosts], True


def striping(hosts: list[HostInfo]) -> tuple[list[int], bool]:
    """Spread VMs one per host, emptiest hosts first."""
    hosts.sort(key=lambda h: (-h[1][0], -h[1][1], h[0]))
    return [h[0] for h in hosts], False


POLICIES: dict[HostSelection, Ordering] = {
    HostSelection.GREEDY: greedy,
    HostSelection.PACKING: packing,
    HostSelection.STRIPING: striping,
}
