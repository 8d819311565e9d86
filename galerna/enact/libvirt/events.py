"""libvirt's process-wide set-up: its error printing silenced, its event loop run in a thread.

Once per process, before the first connection: connections opened before the
event implementation is registered never deliver lifecycle events or keepalives.
"""
from __future__ import annotations

import logging
import threading
import time

import libvirt

log = logging.getLogger(__name__)

_init_lock = threading.Lock()
_initialised = False
_loop_thread: threading.Thread | None = None


def init_libvirt() -> None:
    """Once per process: silence libvirt's stderr printing and run its event loop in a thread.

    The event implementation must be registered before connections are
    opened for them to deliver lifecycle events and keepalives.
    """
    global _initialised, _loop_thread
    with _init_lock:
        if _initialised:
            return
        libvirt.registerErrorHandler(lambda *a: None, None)
        libvirt.virEventRegisterDefaultImpl()

        def run() -> None:
            while True:
                try:
                    libvirt.virEventRunDefaultImpl()
                except Exception:  # pragma: no cover - keep the loop alive
                    log.exception("libvirt event loop")
                    time.sleep(0.1)

        _loop_thread = threading.Thread(target=run, name="libvirt-events", daemon=True)
        _loop_thread.start()
        _initialised = True
