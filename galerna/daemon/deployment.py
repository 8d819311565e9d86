"""This database's deployment: its id (stamped on every VM it creates), whether the database was new at start-up,
and the foreign VMs the start-up reconcile found (other deployments', or unstamped ones it does not know).

Foreign VMs are never touched on the daemon's own initiative: they are logged once, listed by
``GET /v1/deployment`` (``galerna deployment show``), and destroyed only when an operator names them
(``POST /v1/deployment/destroy-foreign``, ``galerna deployment destroy-foreign VM... | --all``).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy import select

from galerna.enact.driver import OperationKind as Op
from galerna.enact.executor import Executor
from galerna.enact.identity import Foreign, describe_owner
from galerna.enact.retry import call_with_timeout
from galerna.store.db import Store
from galerna.store.models import LeaseRow

log = logging.getLogger("galerna.daemon")


@dataclass
class Deployment:
    id: str | None  # None: a database from before deployment ids (never after migrations ran)
    fresh: bool  # the database had no lease at all when the daemon started
    foreign: list[Foreign] = field(default_factory=list)

    @classmethod
    def load(cls, store: Store) -> "Deployment":
        with store.session() as s:
            fresh = s.scalar(select(LeaseRow.seq).limit(1)) is None
        return cls(store.get_meta("deployment"), fresh)

    def view(self, host_name: Callable[[str], str | None]) -> dict:
        return {"id": self.id, "fresh": self.fresh,
                "foreign": [{"vm": f.vm, "host": host_name(f.host), "deployment": f.deployment,
                             "lease": f.lease_id} for f in self.foreign]}

    def found(self, foreign: list[Foreign], host_name: Callable[[str], str | None]) -> None:
        """What the start-up reconcile left alone: kept for the API, and said once in the log, loudly when the
        database is new (a wrong ``--db``, or ``sudo`` changing ``$HOME``)."""
        self.foreign = list(foreign)
        if not foreign:
            return
        listed = ", ".join(f"{f.vm} on {host_name(f.host)} ({describe_owner(f.deployment)})" for f in foreign[:20])
        more = f" and {len(foreign) - 20} more" if len(foreign) > 20 else ""
        why = (f"this database is new (deployment {self.id}): is it the right one (--db, data directory)? "
               if self.fresh else "")
        log.warning(f"{len(foreign)} Galerna VM(s) of other deployments on the hosts, left alone: {listed}{more}. "
                    f"{why}Nothing was done to them; list them with `galerna deployment show`, remove them with "
                    f"`galerna deployment destroy-foreign`.")

    def destroy(self, executor: Executor | None, names: list[str] | None, timeout: float = 120.0) -> list[str]:
        """The operator's action: destroy the foreign VMs named (all with ``names`` None). A VM is destroyed only if
        it still carries the stamp it was reported with. Returns the names destroyed."""
        if executor is None:
            return []
        chosen = [f for f in self.foreign if names is None or f.vm in names]
        done = []
        for f in chosen:
            driver = executor.drivers.get(f.host)
            if driver is None or driver.inspect(f.vm).deployment != f.deployment:
                continue  # its host is gone, or the VM changed since it was reported: not the one the operator saw
            # straight to the driver: the executor leaves other deployments' VMs alone, by design
            try:
                call_with_timeout(lambda: driver.destroy(f.vm), timeout, op=Op.DESTROY, vm=f.vm, host=f.host)
            except Exception as e:  # noqa: BLE001 - reported to the operator, who may try again
                log.warning("foreign VM %s could not be destroyed: %s", f.vm, e)
                continue
            done.append(f.vm)
            log.warning("foreign VM destroyed by the operator", extra={"vm": f.vm, "deployment": f.deployment})
        self.foreign = [f for f in self.foreign if f.vm not in done]
        return done
