"""Shared fixtures: where the Haizea workloads live (outside the repository); and the xdist_group marks made to work
again under pytest 9 (see ``pytest_collection_modifyitems``)."""
import os
from pathlib import Path

import pytest

TRACES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "haizea-traces"


@pytest.fixture
def traces_dir() -> Path:
    if not TRACES.is_dir():
        pytest.skip(f"Haizea workloads not found at {TRACES} (expected ../shared/data/haizea-traces)")
    return TRACES


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Give each test marked ``xdist_group("g")`` the node id suffix ``@g`` that ``--dist loadgroup`` groups by.

    pytest-xdist 3.8 sets that suffix through ``item._nodeid``, which pytest 9 no longer reads (the id is the
    structured ``item._id``), so without this every group is spread over both workers and each worker starts the
    group's servers for itself (pytest-dev/pytest-xdist#1386). Runs on the workers only, after xdist's own hook, and
    leaves alone an id that already has the suffix (an xdist that does it again)."""
    if "PYTEST_XDIST_WORKER" not in os.environ or not config.getvalue("loadgroup"):
        return
    try:
        from _pytest.nodeid import NodeId
    except ImportError:  # pytest 8: node ids are strings, and xdist's own hook does it
        return
    for item in items:
        names = {str(m.args[0] if m.args else m.kwargs.get("name", "default")) for m in item.iter_markers("xdist_group")}
        if names and "@" not in item.nodeid.rpartition("]")[2].rpartition("::")[2]:
            item._id = NodeId.parse(f"{item.nodeid}@{'_'.join(sorted(names))}")
