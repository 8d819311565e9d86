"""The XML-RPC dispatcher's answer to what a method did not expect. Python's own dispatcher turns any exception into
a fault reading ``<class 'TypeError'>:...`` (class names, and a database error's SQL text); here an unknown method or
wrong arguments are a plain 400 fault and anything else a 500 fault with an incident id, logged once."""
from __future__ import annotations

import inspect
import logging
from typing import Any
from xmlrpc.client import Fault

from galerna.daemon import incident

log = logging.getLogger("galerna.api")

FAULT_INVALID, FAULT_INTERNAL = 400, 500


class Guarded:
    """Dispatches to the public methods of ``rpc`` (SimpleXMLRPCDispatcher calls ``_dispatch`` when it exists)."""

    def __init__(self, rpc: Any):
        self._rpc = rpc

    def _listMethods(self) -> list[str]:  # noqa: N802 - the dispatcher's name for it
        return sorted(n for n in dir(self._rpc) if not n.startswith("_") and callable(getattr(self._rpc, n)))

    def _dispatch(self, method: str, params: tuple) -> Any:
        fn = None if method.startswith("_") else getattr(self._rpc, method, None)
        if not callable(fn):
            raise Fault(FAULT_INVALID, f"no method {method[:100]!r}")
        try:
            inspect.signature(fn).bind(*params)
        except TypeError:
            raise Fault(FAULT_INVALID, f"{method}: wrong number of arguments ({len(params)})") from None
        try:
            return fn(*params)
        except Fault:
            raise
        except Exception as e:  # noqa: BLE001 - the point: no exception text reaches the caller
            why = incident.report(log, f"XML-RPC {method} failed", e)
            raise Fault(FAULT_INTERNAL, incident.sentence(why)) from None
