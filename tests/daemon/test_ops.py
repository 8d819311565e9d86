"""The daemon's typed operations through Service's methods, on a running scheduler thread (no HTTP, no hypervisor)."""
from __future__ import annotations

import pytest

from galerna.daemon import ops
from galerna.daemon.errors import ErrorKind, Refused

BE = {"type": "be", "duration": 3600, "nodes": [{"cpu": 0.5, "memory": 16}], "tenant": "t"}


def refusal(fut) -> Refused:
    with pytest.raises(Refused) as e:
        fut.result(10)
    return e.value


def test_typed_methods_answer_after_the_batch(svc):
    view = svc.submit(**BE).result(10)
    assert view["state"] == "active" and view["tenant"] == "t"
    assert svc.finished(view["id"]).result(10) == view["id"]
    assert refusal(svc.cancel(view["id"])).kind is ErrorKind.CONFLICT  # already done
    other = svc.submit(**BE).result(10)
    assert svc.cancel(other["id"]).result(10) == other["id"]
    assert svc.core.leases[other["id"]].state.value == "cancelled"


def test_a_bad_operation_is_refused_as_invalid_naming_what_is_wrong(svc):
    assert refusal(svc.submit(**{**BE, "nodes": [{"cpu": 1, "gpu": 1}]})).kind is ErrorKind.INVALID
    e = refusal(svc.submit(type="be", nodes=[], colour="red"))
    assert e.kind is ErrorKind.INVALID and "colour" in e.reason and "duration" in e.reason
    e = refusal(svc.change_host("remove", "no-such-host"))
    assert e.kind is ErrorKind.NOT_FOUND and "no-such-host" in e.reason


def test_a_stopped_service_refuses_as_unavailable(svc):
    svc.stop()
    assert refusal(svc.submit(**BE)).kind is ErrorKind.UNAVAILABLE


def test_each_kind_of_refusal_has_its_http_status():
    from galerna.api.errors import STATUS

    assert set(STATUS) == set(ErrorKind)
    assert (STATUS[ErrorKind.NOT_FOUND], STATUS[ErrorKind.INVALID], STATUS[ErrorKind.UNAVAILABLE]) == (404, 422, 503)
