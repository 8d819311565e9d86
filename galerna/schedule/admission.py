"""Admission: whether a new AR, immediate or deadline lease gets a reservation.

Each decision returns a value: ``Accept(phases)``, ``Refuse(Refusal)``, or
``Preempt(plan, start, end)`` when the lease fits only if the plan's victims make
way; the front door then carries out the plan and calls :meth:`after_preemption`.
A lease that could never fit the site, even empty, is refused at once, with the
answer remembered per VM shape.
"""
from __future__ import annotations

from math import inf

from galerna.model.lease import LeaseType
from galerna.schedule.context import CoreContext
from galerna.schedule.decisions import Accept, Admit, Preempt, Refuse
from galerna.schedule.lease import Lease
from galerna.schedule.mapper import total_demand
from galerna.schedule.plan import Refusal, RefusalKind as R
from galerna.schedule.policies.admission import REFUSED
from galerna.schedule.preemption import Preemptor
from galerna.schedule.search import Fresh, Search
from galerna.schedule.timeline import EPS


class Admission:
    def __init__(self, ctx: CoreContext, search: Search, preemptor: Preemptor):
        self.ctx = ctx
        self.search = search
        self.preemptor = preemptor
        self.refused_types = REFUSED[ctx.cfg.admission]
        self._fit_cache: dict[tuple, Refusal | None] = {}

    def refusal(self, lease: Lease) -> Refusal | None:
        """Why the lease is refused before any search (it can never fit, or its type is not taken), or None."""
        why = self._never_fits(lease)
        if why is None and lease.type in self.refused_types:
            why = Refusal(R.ARS_NOT_ADMITTED)
        return why

    def _never_fits(self, lease: Lease) -> Refusal | None:
        if lease.vecs not in self._fit_cache:
            self._fit_cache[lease.vecs] = self._never_fits_uncached(lease)
        return self._fit_cache[lease.vecs]

    def _never_fits_uncached(self, lease: Lease) -> Refusal | None:
        ctx = self.ctx
        need = total_demand(lease.vecs)
        names = ctx.site.resource_types
        for r, (x, cap) in enumerate(zip(need, ctx.slots.total_capacity)):
            if x > cap + EPS:
                return Refusal(R.SITE_TOO_SMALL, need=x, have=cap, resource=names[r])
        for i, v in enumerate(lease.vecs):
            if not any(all(x <= c + EPS for x, c in zip(v, cap)) for cap in ctx.slots.caps):
                return Refusal(R.NODE_TOO_BIG, node=i)
        if ctx.mapper.map_at(lease.vecs, inf, inf) is None:  # at infinity the site is empty
            return Refusal(R.CANNOT_PLACE, vms=lease.req.n_nodes)
        return None

    # ------------------------------------------------------------ by type
    def exact(self, lease: Lease, now: float) -> Admit:
        """An AR: its exact start or nothing (preempting, as the policy allows)."""
        ctx = self.ctx
        req = lease.req
        start = req.start - ctx.phases.boot_time(lease)
        if start < now + ctx.cfg.non_schedulable_interval - EPS:
            return Refuse(Refusal(R.TOO_SOON, at=req.start, now=now))
        end = start + ctx.phases.fresh_length(lease)
        hosts = ctx.mapper.map_at(lease.vecs, start, end)
        if hosts is None and self.preemptor.may_preempt(lease):
            plan = self.preemptor.plan_for(lease, start, end, now)
            if plan is not None:
                return Preempt(plan, start, end)
        return self._exact_on(lease, start, hosts)

    def _exact_on(self, lease: Lease, start: float, hosts: tuple[int, ...] | None) -> Accept | Refuse:
        req = lease.req
        if hosts is None:
            return Refuse(Refusal(R.NO_CAPACITY_AT, at=req.start, vms=req.n_nodes))
        phases = self.search.with_image(lease, self.ctx.phases.fresh(lease, start, hosts), latest_hole=True)
        if phases is None:
            return Refuse(Refusal(R.IMAGE_TOO_LATE, at=req.start))
        return Accept(phases, ar_start=start)

    def immediate(self, lease: Lease, now: float) -> Accept | Refuse:
        phases = self.search.find(Fresh(lease), now, now_only=True)
        if phases is None:
            return Refuse(Refusal(R.NO_CAPACITY_NOW, vms=lease.req.n_nodes))
        return Accept(phases)

    def deadline(self, lease: Lease, now: float) -> Admit:
        earliest, latest = self.ctx.phases.deadline_window(lease, now)
        phases = self.search.find(Fresh(lease), earliest, latest) if earliest <= latest + EPS else None
        if phases is None and self.preemptor.may_preempt(lease) and earliest <= latest + EPS:
            end = earliest + self.ctx.phases.fresh_length(lease)
            plan = self.preemptor.plan_for(lease, earliest, end, now)
            if plan is not None:
                return Preempt(plan, earliest, end)
        return self._deadline_refusal(lease) if phases is None else Accept(phases)

    def _deadline_refusal(self, lease: Lease) -> Refuse:
        return Refuse(Refusal(R.MISSES_DEADLINE, at=lease.req.deadline))

    def after_preemption(self, lease: Lease, d: Preempt) -> Accept | Refuse:
        """Place the lease on [d.start, d.end) once the victims of ``d`` have made way."""
        hosts = self.ctx.mapper.map_at(lease.vecs, d.start, d.end)
        if lease.type is LeaseType.AR:
            return self._exact_on(lease, d.start, hosts)
        phases = None if hosts is None else self.search.with_image(lease, self.ctx.phases.fresh(lease, d.start, hosts))
        return self._deadline_refusal(lease) if phases is None else Accept(phases)
