"""Reports of simulations and sweeps: PNG figures (matplotlib, Agg) and one self-contained HTML page."""
from galerna.report.build import report, report_run, report_sweep

__all__ = ["report", "report_run", "report_sweep"]
