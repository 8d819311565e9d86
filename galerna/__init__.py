"""Galerna: a lease-based manager for virtual machines on a cluster."""

__version__ = "0.1.0"
