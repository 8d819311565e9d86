"""The REST API's OpenAPI document stays what clients were given.

``openapi_v1.json`` is the document of ``create_app()`` as published (taken before the API was split into
routers). Every operation and every schema in it must come out of today's app unchanged: same paths, methods,
parameters, request bodies, responses and status codes. New operations may be added (they are not in the file);
changing or dropping one fails here. One announced, additive change since: the 413 that api/bodygate.py gives a
too-large body, documented on the three published operations that take a body. Regenerate the file only for a
deliberate, announced API change::

    PYTHONPATH=$PWD python -c 'import json; from galerna.api.app import create_app; \
        print(json.dumps(create_app().openapi(), indent=1, sort_keys=True))' > tests/daemon/openapi_v1.json
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from galerna.api.app import create_app
from galerna.daemon.settings import Settings

PUBLISHED = json.loads((Path(__file__).with_name("openapi_v1.json")).read_text())


@pytest.fixture(scope="module")
def current() -> dict:
    return create_app(Settings()).openapi()


def test_info_and_version_unchanged(current):
    assert current["openapi"] == PUBLISHED["openapi"]
    assert current["info"] == PUBLISHED["info"]


@pytest.mark.parametrize("path,method", [(p, m) for p, ops in sorted(PUBLISHED["paths"].items()) for m in sorted(ops)])
def test_every_published_operation_unchanged(current, path, method):
    assert method in current["paths"].get(path, {}), f"{method.upper()} {path} is gone"
    assert current["paths"][path][method] == PUBLISHED["paths"][path][method]


@pytest.mark.parametrize("section", sorted(PUBLISHED["components"]))
def test_every_published_component_unchanged(current, section):
    for name, spec in PUBLISHED["components"][section].items():
        assert current["components"][section].get(name) == spec, f"components/{section}/{name} changed"


def test_every_operation_with_a_body_documents_the_413(current):
    """api/bodygate.py answers 413 to a body over ``[api] max_body_bytes`` before the route sees it: say so."""
    with_body = [(p, m) for p, ops in current["paths"].items() for m, op in ops.items() if "requestBody" in op]
    assert len(with_body) >= 4
    for path, method in with_body:
        assert "413" in current["paths"][path][method]["responses"], f"{method.upper()} {path} lacks its 413"
