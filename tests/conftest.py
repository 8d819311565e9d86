"""Shared fixtures: where the Haizea workloads live (outside the repository)."""
from pathlib import Path

import pytest

TRACES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "haizea-traces"


@pytest.fixture
def traces_dir() -> Path:
    if not TRACES.is_dir():
        pytest.skip(f"Haizea workloads not found at {TRACES} (expected ../shared/data/haizea-traces)")
    return TRACES
