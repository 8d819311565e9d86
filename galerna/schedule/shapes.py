"""Memos about VM shapes against the site's hosts, shared by the search and compression."""
from __future__ import annotations

from galerna.schedule.lease import Vec
from galerna.schedule.mapper import min_vec
from galerna.schedule.timeline import EPS


class Shapes:
    def __init__(self, host_caps: list[tuple[float, ...]]):
        self._caps = host_caps
        self._small: dict[tuple, Vec] = {}  # VM vectors -> their smallest VM
        self._one_vm: dict[Vec, frozenset[int]] = {}

    def smallest(self, vecs: tuple[Vec, ...]) -> Vec:
        """The smallest of these VMs, per resource."""
        small = self._small.get(vecs)
        if small is None:
            small = self._small[vecs] = min_vec(vecs)
        return small

    def one_vm_hosts(self, vm: Vec) -> frozenset[int]:
        """Hosts on which two VMs of this size never fit together."""
        got = self._one_vm.get(vm)
        if got is None:
            got = self._one_vm[vm] = frozenset(
                h for h, cap in enumerate(self._caps) if any(2 * x > c + EPS for x, c in zip(vm, cap)))
        return got
