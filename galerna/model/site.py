"""The physical site: hosts and their capacities."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

BASE_RESOURCES = ("cpu", "memory")


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
        """Resources as a tuple in site order; a resource the site lacks is an error."""
        unknown = [k for k in resources if k not in self.resource_types]
        if unknown:
            raise ValueError(f"resource type(s) {', '.join(unknown)} not provided by any host of this site")
        return tuple(float(resources.get(k, 0.0)) for k in self.resource_types)

    def capacity(self, i: int) -> tuple[float, ...]:
        return self.vector(self.hosts[i].capacity)

    def __len__(self) -> int:
        return len(self.hosts)
