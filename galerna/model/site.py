"""The physical site: hosts and their capacities."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

BASE_RESOURCES = ("cpu", "memory")


class UnknownResource(ValueError):
    """A lease asks for a resource type that no host provides. ``node`` is the VM's index in the request, so
    that a caller can point at the field (the REST API answers 422 at ``body.nodes.<node>.<resource>``)."""

    def __init__(self, node: int, resource: str, known: Sequence[str]):
        super().__init__(f"resource {resource} is not provided by any host (known: {', '.join(known)})")
        self.node, self.resource, self.known = node, resource, tuple(known)


def check_resources(nodes: Iterable[Mapping[str, float]], known: Sequence[str]) -> None:
    """The one check of a request's resource types: raises :class:`UnknownResource` for the first one (VM by
    VM, in the VM's order) that is not in ``known``."""
    for i, node in enumerate(nodes):
        for k in node:
            if k not in known:
                raise UnknownResource(i, k, known)


@dataclass(frozen=True, slots=True)
class Host:
    name: str
    capacity: Mapping[str, float]


class Site:
    """Hosts plus the ordered list of resource types the slot table tracks.

    Resource vectors inside the scheduler are plain tuples in
    ``resource_types`` order: tuple arithmetic is what the hot paths do.
    """

    def __init__(self, hosts: Iterable[Host], extra_resources: Iterable[str] = ()):
        self.hosts: list[Host] = list(hosts)
        if not self.hosts:
            raise ValueError("a site needs at least one host")
        names = [h.name for h in self.hosts]
        if len(set(names)) != len(names):
            raise ValueError("host names must be unique")
        extra = list(extra_resources)
        for h in self.hosts:
            extra += [k for k in h.capacity if k not in BASE_RESOURCES and k not in extra]
        self.resource_types: tuple[str, ...] = BASE_RESOURCES + tuple(extra)
        self.index = {name: i for i, name in enumerate(names)}

    @classmethod
    def uniform(cls, n: int, cpu: float = 1.0, memory: float = 1024.0, prefix: str = "host", **extra: float) -> "Site":
        width = len(str(n))
        return cls(Host(f"{prefix}{i + 1:0{width}d}", {"cpu": cpu, "memory": memory, **extra}) for i in range(n))

    def vector(self, resources: Mapping[str, float]) -> tuple[float, ...]:
        """Resources as a tuple in site order; a resource the site lacks is :class:`UnknownResource`."""
        check_resources((resources,), self.resource_types)
        return tuple(float(resources.get(k, 0.0)) for k in self.resource_types)

    def capacity(self, i: int) -> tuple[float, ...]:
        return self.vector(self.hosts[i].capacity)

    def __len__(self) -> int:
        return len(self.hosts)
