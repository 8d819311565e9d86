"""The node cap of a lease request comes before any node is looked at (issue 17 §3: 10^6 nodes stalled the API
for seconds because every item was validated first, then the length checked)."""
from __future__ import annotations

from collections.abc import Mapping

import pytest
from pydantic import ValidationError

from galerna.api.schemas import LeaseCreate


class Watched(Mapping):
    """A node map that counts how often the validator reads it."""

    reads = 0

    def __getitem__(self, key):
        Watched.reads += 1
        return {"cpu": 1.0}[key]

    def __iter__(self):
        Watched.reads += 1
        return iter(["cpu"])

    def __len__(self):
        Watched.reads += 1
        return 1


def test_a_too_long_node_list_is_refused_before_any_node_is_read():
    Watched.reads = 0
    with pytest.raises(ValidationError) as e:
        LeaseCreate.model_validate({"type": "best_effort", "duration": 60, "nodes": [Watched()] * 5000})
    assert [(err["loc"], err["type"]) for err in e.value.errors()] == [(("nodes",), "too_long")]
    assert Watched.reads == 0


def test_a_node_list_within_the_cap_is_validated_item_by_item():
    Watched.reads = 0
    req = LeaseCreate.model_validate({"type": "best_effort", "duration": 60, "nodes": [Watched()] * 3})
    assert req.nodes == [{"cpu": 1.0}] * 3 and Watched.reads > 0
    with pytest.raises(ValidationError) as e:
        LeaseCreate.model_validate({"type": "best_effort", "duration": 60, "nodes": [{"cpu": -1}]})
    assert e.value.errors()[0]["loc"] == ("nodes", 0, "cpu")


def test_an_echoed_input_is_short_and_always_encodable():
    import json

    from galerna.api.echo import TEXT, bounded, shorten

    assert bounded("x" * 10_000) == "x" * TEXT + "…"
    assert bounded(float("nan")) == "NaN" and bounded(float("inf")) == "Infinity"
    assert bounded("a\ud800b") == "a\\ud800b"  # a lone surrogate cannot be sent as UTF-8
    assert bounded({"cpu": 1, "memory": 2}) == {"cpu": 1, "memory": 2}  # small inputs stay as they were
    long = bounded([{"cpu": 1}] * 30_000)
    assert isinstance(long, str) and long.endswith("(30000 items)") and len(long) < 2 * TEXT
    assert bounded([[[["deep"]]]]) == [["…"]]
    err = shorten({"loc": ("body", "nodes"), "msg": "too long", "type": "too_long", "input": [1] * 10 ** 5,
                   "ctx": {"max_length": 1024, "error": ValueError("x" * 500)}})
    assert err["loc"] == ("body", "nodes") and len(json.dumps(err)) < 400
