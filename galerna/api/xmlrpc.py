"""Haizea 1.x's XML-RPC interface, mounted in the FastAPI app (``daemon.xmlrpc = true``).

An unmodified Haizea client (``xmlrpc.client.ServerProxy``, ``haizea-request-lease``
and friends) works against it. The methods and their shapes follow Haizea's
``haizea/core/rpcserver.py`` and ``haizea/frontends/rpc.py``:

* ``create_lease(lease_xml_string)`` → the new lease's id (an int). The lease is
  Haizea's LWF ``<lease>`` element, parsed by :mod:`galerna.readers.lwf`. Its
  ``<exact time>``/``<deadline time>`` are absolute instants (ISO 8601 or
  ``YYYY-MM-DD HH:MM:SS[.ss]``, UTC when no offset is given) or, as in LWF files,
  ``[+]HH:MM:SS`` offsets from now. A lease that cannot be granted still gets an
  id (as in Haizea, where the decision came later): ``get_lease`` shows it
  rejected (state 2). Malformed XML is a Fault naming the problem.
* ``cancel_lease(lease_id)`` → 0; ``get_leases()`` → the XML of every lease not in a
  final state; ``get_lease(lease_id)`` → its XML (Haizea returned 0 there);
  ``get_queue()`` → the XML of waiting leases; ``get_hosts()`` → ``{id, hostname,
  cpu, mem}`` structs (cpu in percent of a core, mem in MB, as Haizea); plus
  ``state`` and ``health``; ``notify_event(lease_id[, enactment_id], event)``:
  event 0 (Haizea's ``EVENT_END_VM``) ends the lease's run now; ``test_func()`` → 0.

Haizea had no authentication. Here every request needs a token: as the HTTP
basic-auth password (``http://user:TOKEN@host:7070/RPC2``, any user name), as
``?token=TOKEN``, or as ``Authorization: Bearer``. Without a valid one the answer
is HTTP 401 (``xmlrpc.client.ProtocolError``). Tenant tokens see their own leases.
"""
from __future__ import annotations

import asyncio
import base64
import re
import time
from typing import Any
from xmlrpc.client import Fault
from xmlrpc.server import SimpleXMLRPCDispatcher

from fastapi import FastAPI, Request
from fastapi.responses import Response
from sqlalchemy import select

from galerna.api.haizea_xml import lease_xml, parse_lease
from galerna.model.bounds import OutOfBounds
from galerna.model.site import UnknownResource, check_resources
from galerna.model.state import FINAL_STATES, WAITING_STATES
from galerna.readers.errors import TraceError
from galerna.store.models import HostRow, LeaseRow

FINAL = tuple(sorted(s.value for s in FINAL_STATES))
WAITING = tuple(sorted(s.value for s in WAITING_STATES))
EVENT_END_VM = 0
FAULT_INVALID, FAULT_NOT_FOUND, FAULT_REFUSED, FAULT_BUSY = 400, 404, 409, 503
LEASE_ID = re.compile(r"[0-9]{1,18}")


def lease_seq(lease_id: Any) -> int:
    """A lease id as Haizea's client sends it: an XML-RPC ``<int>`` or its decimal text. A double, a boolean or
    anything else ``int()`` would bend into an id (``1.5`` is not lease 1) is a Fault."""
    if type(lease_id) is int:
        return lease_id
    if isinstance(lease_id, str) and LEASE_ID.fullmatch(lease_id):
        return int(lease_id)
    raise Fault(FAULT_INVALID, f"not a lease id: {str(lease_id)[:40]!r} (an integer is needed)")


# ----------------------------------------------------------------- the methods
class HaizeaRPC:
    """One request's view of the daemon, for one principal (public methods are the RPC methods)."""

    def __init__(self, principal: Any, service: Any, store: Any, timeout: float):
        self._p, self._svc, self._store, self._timeout = principal, service, store, timeout

    def _wait(self, fut) -> Any:
        from concurrent.futures import TimeoutError as FutTimeout

        from galerna.daemon.errors import ErrorKind, Refused

        try:
            return fut.result(self._timeout)
        except FutTimeout:
            raise Fault(FAULT_BUSY, "the scheduler did not answer in time; the request may still be carried out")
        except Refused as e:
            raise Fault({ErrorKind.NOT_FOUND: FAULT_NOT_FOUND, ErrorKind.INVALID: FAULT_INVALID,
                         ErrorKind.UNAVAILABLE: FAULT_BUSY}.get(e.kind, FAULT_REFUSED), e.reason) from None

    def _row(self, lease_id: Any) -> LeaseRow:
        seq = lease_seq(lease_id)
        with self._store.session() as s:
            row = s.get(LeaseRow, seq) if 0 < seq < 2**62 else None
        if row is None or (not self._p.admin and row.tenant != self._p.tenant):
            raise Fault(FAULT_NOT_FOUND, f"no lease {lease_id}")
        return row

    def _rows(self, states: tuple[str, ...], exclude: bool) -> list[str]:
        q = select(LeaseRow).order_by(LeaseRow.submitted, LeaseRow.seq)
        q = q.where(LeaseRow.state.not_in(states)) if exclude else q.where(LeaseRow.state.in_(states))
        if not self._p.admin:
            q = q.where(LeaseRow.tenant == self._p.tenant)
        with self._store.session() as s:
            return [lease_xml(r) for r in s.scalars(q.limit(10000))]

    def test_func(self) -> int:
        return 0

    def create_lease(self, lease_xml_string: str, idempotency_key: str | None = None) -> int:
        """Galerna's optional second argument: an idempotency key; a retry with it returns the first lease's id."""
        try:
            args = parse_lease(lease_xml_string, time.time(), self._svc.bounds)
        except TraceError as e:
            raise Fault(FAULT_INVALID, f"invalid lease XML: {e}") from None
        except OutOfBounds as e:
            raise Fault(FAULT_INVALID, f"invalid lease: {e}") from None
        try:
            check_resources(args["nodes"], self._svc.resource_types())
        except UnknownResource as e:
            raise Fault(FAULT_INVALID, f"invalid lease XML: {e}") from None
        args["tenant"] = self._p.tenant
        if idempotency_key is not None:
            from galerna.daemon import idempotency

            try:
                key = idempotency.checked_key(idempotency_key)
            except Exception as e:  # noqa: BLE001 - a Refused: its reason is the fault's
                raise Fault(FAULT_INVALID, str(e)) from None
            args["idempotency"] = idempotency.Key(idempotency.scope(self._p.tenant, self._p.admin, self._p.name), key,
                                                  idempotency.body_hash(lease_xml_string))
        view = self._wait(self._svc.submit(**args))
        return int(view["id"])

    def cancel_lease(self, lease_id: Any) -> int:
        row = self._row(lease_id)
        if row.state in FINAL:
            raise Fault(FAULT_REFUSED, f"lease {row.seq} is already {row.state}")
        self._wait(self._svc.cancel(str(row.seq)))
        return 0

    def get_leases(self) -> list[str]:
        return self._rows(FINAL, exclude=True)

    def get_lease(self, lease_id: Any) -> str:
        return lease_xml(self._row(lease_id))

    def get_queue(self) -> list[str]:
        return self._rows(WAITING, exclude=False)

    def get_hosts(self) -> list[dict]:
        with self._store.session() as s:
            rows = list(s.scalars(select(HostRow).order_by(HostRow.position, HostRow.name)))
        return [{"id": i + 1, "hostname": r.name, "cpu": int(round(r.cpu * 100)), "mem": int(r.memory),
                 "state": r.admin_state, "health": r.health} for i, r in enumerate(rows)]

    def notify_event(self, lease_id: Any, *rest: Any) -> int:
        if not rest:
            raise Fault(FAULT_INVALID, "notify_event(lease_id, [enactment_id,] event)")
        event = rest[-1]
        row = self._row(lease_id)
        if type(event) is not int or event != EVENT_END_VM:
            raise Fault(FAULT_INVALID, f"unknown event {event!r} (only {EVENT_END_VM}, EVENT_END_VM, is known)")
        self._wait(self._svc.finished(str(row.seq)))
        return 0


def _token(request: Request) -> str | None:
    tok = request.query_params.get("token")
    if tok:
        return tok
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "basic":
        try:
            user, _, pw = base64.b64decode(value.strip()).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return pw or user or None
    if scheme.lower() == "bearer":
        return value.strip() or None
    return None


def mount(app: FastAPI, path: str) -> None:
    """Serve Haizea's XML-RPC methods at ``path`` (POST, text/xml), with the REST API's store, service and tokens."""

    @app.post(path, include_in_schema=False)
    async def xmlrpc_endpoint(request: Request) -> Response:
        ctx = request.app.state.galerna
        tok = _token(request)
        p = await asyncio.to_thread(ctx.tokens.find, tok) if tok else None
        if p is None:
            return Response("a valid token is needed (basic-auth password, ?token= or bearer)\n", status_code=401,
                            media_type="text/plain", headers={"WWW-Authenticate": 'Basic realm="galerna"'})
        body = await request.body()
        disp = SimpleXMLRPCDispatcher(allow_none=True, encoding="utf-8")
        from galerna.api.xmlrpc_guard import Guarded

        disp.register_instance(Guarded(HaizeaRPC(p, ctx.service, ctx.store, ctx.settings.daemon.decision_timeout)))
        disp.register_introspection_functions()
        out = await asyncio.to_thread(disp._marshaled_dispatch, body)
        return Response(out, media_type="text/xml")
