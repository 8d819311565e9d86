"""The old import path of the libvirt driver, now the package :mod:`galerna.enact.libvirt`.

Kept only because the tests import it from here (they stay unchanged across the
split); Galerna's own code and the benchmarks import :mod:`galerna.enact.libvirt`.
"""
from galerna.enact.libvirt import LibvirtDriver, init_libvirt

__all__ = ["LibvirtDriver", "init_libvirt"]
