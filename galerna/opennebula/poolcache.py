"""One read of oned's VM pool shared by the host drivers of a monitor pass: each host driver would otherwise read
the whole pool (``one.vmpool.infoextended``) for itself, once per host per pass."""
from __future__ import annotations

import threading
import time
from typing import Callable

from galerna.opennebula.client import OneClient
from galerna.opennebula.objects import OneVM


class PoolCache:
    """One read of oned's VM pool shared by the host drivers of one monitor pass (``ttl`` seconds)."""

    def __init__(self, client: OneClient, ttl: float = 1.0, clock: Callable[[], float] = time.monotonic):
        self.client, self.ttl, self._clock = client, ttl, clock
        self._lock = threading.Lock()
        self._at = -1e18
        self._vms: list[OneVM] = []

    def vms(self) -> list[OneVM]:
        with self._lock:
            if self._clock() - self._at > self.ttl:
                self._vms = self.client.vms()
                self._at = self._clock()
            return list(self._vms)
