"""Experiment sweeps: traces x injection files x configuration profiles, run on Dask."""
from galerna.sweep.spec import RunTask, SweepSpec, deep_merge, load_sweep

__all__ = ["RunTask", "SweepSpec", "deep_merge", "load_sweep"]
