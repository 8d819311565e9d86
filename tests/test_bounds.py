"""The one set of lease bounds (galerna/model/bounds.py): each limit, and the field each refusal names."""
from __future__ import annotations

import pytest

from galerna.model import bounds
from galerna.model.bounds import LeaseBounds, OutOfBounds, check_lease

OK = {"duration": 3600.0, "nodes": [{"cpu": 1.0, "memory": 512.0}]}


def refusal(**changes) -> OutOfBounds:
    with pytest.raises(OutOfBounds) as e:
        check_lease(**{**OK, **changes})
    return e.value


def test_a_plain_request_is_within_bounds():
    check_lease(**OK, start=bounds.EARLIEST + 1, deadline=bounds.LATEST, name="job-1 ünïcode", tenant="acme")


@pytest.mark.parametrize("changes, field", [
    ({"duration": float("nan")}, "duration"), ({"duration": float("inf")}, "duration"), ({"duration": 0}, "duration"),
    ({"duration": -5}, "duration"), ({"duration": True}, "duration"), ({"duration": "60"}, "duration"),
    ({"duration": bounds.MAX_DURATION + 1}, "duration"), ({"duration": 10**400}, "duration"),
    ({"start": 253_000_000_000.0}, "start"), ({"start": 100.0}, "start"), ({"deadline": float("nan")}, "deadline"),
    ({"nodes": []}, "nodes"), ({"nodes": [{"cpu": 1, "memory": 1}] * 1025}, "nodes"), ({"nodes": "x"}, "nodes"),
    ({"nodes": [{"cpu": 0, "memory": 1}]}, "nodes.0.cpu"), ({"nodes": [{"cpu": 1, "memory": 1e10}]}, "nodes.0.memory"),
    ({"nodes": [{"cpu": 1, "memory": 1}, {"cpu": 1, "memory": 1, "gpu": -1}]}, "nodes.1.gpu"),
    ({"nodes": [{"cpu": 1e7, "memory": 1}]}, "nodes.0.cpu"),
    ({"name": "a\ud800"}, "name"), ({"name": "a\x1b[31m"}, "name"), ({"name": "x" * 257}, "name"),
    ({"tenant": "t\n"}, "tenant"), ({"image_id": "\udfff"}, "image.id"), ({"image_size": float("inf")}, "image.size_mb"),
])
def test_each_value_outside_the_bounds_is_refused_naming_its_field(changes, field):
    e = refusal(**changes)
    assert e.field == field and str(e).startswith(f"{field}: ")


def test_configured_bounds_are_lower_than_the_defaults():
    b = LeaseBounds(max_duration=60, max_nodes=2)
    check_lease(b, duration=60, nodes=[{"cpu": 1, "memory": 1}] * 2)
    with pytest.raises(OutOfBounds, match="duration"):
        check_lease(b, duration=61, nodes=[{"cpu": 1, "memory": 1}])
    with pytest.raises(OutOfBounds, match="nodes"):
        check_lease(b, duration=60, nodes=[{"cpu": 1, "memory": 1}] * 3)


def test_loc_splits_the_dotted_field_for_a_422():
    assert OutOfBounds("nodes.3.cpu", "x").loc == ("nodes", 3, "cpu")
