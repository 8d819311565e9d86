"""The trace-driven simulator: the scheduling core on a simulated clock."""
