"""The libvirt enactment driver, in parts: process set-up (``events.py``), what libvirt's codes
mean (``codes.py``), the connection to one host (``connection.py``), its storage pool
(``storage.py``) and the driver that carries out VM operations (``driver.py``)."""
from galerna.enact.libvirt.driver import LibvirtDriver
from galerna.enact.libvirt.events import init_libvirt

__all__ = ["LibvirtDriver", "init_libvirt"]
