"""Host selection: in which order the mapper fills hosts with a lease's VMs.

Each policy gets the candidate hosts (an index array), the free capacity left
on each over the whole window (one row per host) and a callable giving every
host's load — how many times its free capacity changes from now on, a proxy
for how many leases it carries — and returns the hosts in fill order plus
whether to fill one host fully before moving on (packing, greedy) or to
spread one VM per host per round (striping). Orders are ``numpy.lexsort``
keys, so ranking 1,000 hosts costs about what ranking ten does.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from galerna.config.schema import HostSelection

# (hosts, free over the window per host, load of every host) -> (fill order, fill one host at a time)
Ordering = Callable[[np.ndarray, np.ndarray, Callable[[], np.ndarray]], tuple[np.ndarray, bool]]


def greedy(hosts: np.ndarray, free: np.ndarray, load: Callable[[], np.ndarray]) -> tuple[np.ndarray, bool]:
    """Prefer hosts carrying fewer leases, then with more free capacity (Haizea's greedy)."""
    return hosts[np.lexsort((hosts, -free[:, 1], -free[:, 0], load()[hosts]))], True


def packing(hosts: np.ndarray, free: np.ndarray, load: Callable[[], np.ndarray]) -> tuple[np.ndarray, bool]:
    """Best fit: fill the fullest host that still fits, keep big holes for big leases."""
    return hosts[np.lexsort((hosts, free[:, 1], free[:, 0]))], True


def striping(hosts: np.ndarray, free: np.ndarray, load: Callable[[], np.ndarray]) -> tuple[np.ndarray, bool]:
    """Spread VMs one per host, emptiest hosts first."""
    return hosts[np.lexsort((hosts, -free[:, 1], -free[:, 0]))], False


POLICIES: dict[HostSelection, Ordering] = {
    HostSelection.GREEDY: greedy,
    HostSelection.PACKING: packing,
    HostSelection.STRIPING: striping,
}
