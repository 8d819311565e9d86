"""The ledger's sorted lease lists (book.LeaseOrder) against a simple model: a list
sorted by (submit, arrival) with the semantics of the sorted container they replaced."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as hst

from galerna.model.lease import LeaseRequest, LeaseType
from galerna.schedule.book import LeaseOrder
from galerna.schedule.lease import Lease


def _lease(seq: int, submit: float) -> Lease:
    req = LeaseRequest(id=str(seq), type=LeaseType.BE, submit=submit, duration=60.0, nodes=({"cpu": 1.0},))
    return Lease(req=req, vecs=((1.0,),), seq=seq)


ops = hst.lists(hst.tuples(hst.sampled_from(["add", "remove", "discard"]), hst.integers(0, 11)), max_size=60)


@settings(max_examples=300, deadline=None)
@given(submits=hst.lists(hst.sampled_from([0.0, 5.0, 5.0, 10.0]), min_size=12, max_size=12), ops=ops)
def test_lease_order_keeps_leases_sorted_by_submit_then_arrival(submits, ops):
    leases = [_lease(i, s) for i, s in enumerate(submits)]
    order, model = LeaseOrder(), []
    for op, k in ops:
        lease = leases[k]
        if op == "add":
            if lease in model:
                continue  # the ledger never lists a lease twice
            order.add(lease)
            model.append(lease)
            model.sort(key=lambda L: (L.req.submit, L.seq))
        elif op == "remove":
            if lease in model:
                order.remove(lease)
                model.remove(lease)
            else:
                with pytest.raises(ValueError):
                    order.remove(lease)
        else:
            order.discard(lease)
            if lease in model:
                model.remove(lease)
        assert list(order) == model
        assert len(order) == len(model) and bool(order) == bool(model)
        assert all((L in order) == (L in model) for L in leases)
    assert "x" not in order
