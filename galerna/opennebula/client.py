"""A thin client of oned's XML-RPC API over pyone: typed results, timeouts, retries, clean errors.

Every call goes through :meth:`OneClient.call`, which maps pyone's exceptions
to :class:`OneCallError` (a ``HypervisorError``, so the executor's retry and
failure policy apply unchanged): OpenNebula's own message is kept, the
session secret is scrubbed from it, and transient failures (oned
unreachable, an internal error, a timeout) are marked worth a retry while
refusals (authentication, no such object, action not valid in this state)
are not.
"""
from __future__ import annotations

import logging
import time
import xmlrpc.client
from typing import Any, Callable

import pyone
import requests
from pyone import server_xrpc

from galerna.enact.driver import HypervisorError
from galerna.enact.retry import Backoff
from galerna.model.site import Host, Site
from galerna.opennebula.credentials import Credentials, safe_url
from galerna.opennebula.objects import OneHost, OneVM, host_from_binding, vm_from_binding

log = logging.getLogger(__name__)

#: oned's error codes (include/Request.h)
AUTHENTICATION, AUTHORIZATION, NO_EXISTS, ACTION, RPC_API, INTERNAL = 0x100, 0x200, 0x400, 0x800, 0x1000, 0x2000
_CODES = [(pyone.OneAuthenticationException, AUTHENTICATION), (pyone.OneAuthorizationException, AUTHORIZATION),
          (pyone.OneNoExistsException, NO_EXISTS), (pyone.OneActionException, ACTION),
          (pyone.OneApiException, RPC_API), (pyone.OneInternalException, INTERNAL)]


class OneCallError(HypervisorError):
    """An XML-RPC call failed; ``message`` is OpenNebula's (secret-free), ``code`` its error code."""

    def __init__(self, method: str, message: str, *, code: int | None = None, transient: bool,
                 connection_lost: bool = False, vm: int | None = None):
        super().__init__(message, op=f"one.{method}", vm=None if vm is None else str(vm), code=code,
                         transient=transient, connection_lost=connection_lost)
        self.method = method


class _TimeoutTransport(server_xrpc.RequestsTransport):
    """pyone's transport with a per-request timeout (pyone's own ``timeout`` sets one for the whole process)."""

    def __init__(self, https: bool, verify: bool, timeout: float):
        super().__init__()
        self.set_https(https)
        self.set_https_verify(verify)
        self.timeout = timeout

    def request(self, host, handler, request_body, verbose=False):
        url = self._build_url(host, handler)
        resp = requests.post(url, data=request_body, headers=self.headers, verify=self.https_verify,
                             timeout=self.timeout)
        if resp.status_code >= 400:
            raise xmlrpc.client.ProtocolError(safe_url(url), resp.status_code, resp.reason, {})
        return self.parse_response(resp)


def _server(endpoint: str, session: str, timeout: float, verify: bool) -> Any:
    xrpc = getattr(server_xrpc, "OneServerXRPC", None) or pyone.OneServer  # pyone >= 7.2 / older
    server = xrpc(endpoint, session=session, https_verify=verify)
    # ServerProxy keeps its transport in a name-mangled attribute; swap in one with a timeout.
    server._ServerProxy__transport = _TimeoutTransport(endpoint.startswith("https"), verify, timeout)
    return server


class OneClient:
    """oned's API as Galerna uses it. Safe to share between threads (one HTTP request per call)."""

    def __init__(self, endpoint: str, credentials: Credentials, *, timeout: float = 30.0, attempts: int = 1,
                 backoff: Backoff | None = None, https_verify: bool = True,
                 sleep: Callable[[float], None] = time.sleep):
        self.endpoint = endpoint
        self.credentials = credentials
        self.attempts = attempts
        self.backoff = backoff or Backoff(0.5, 2.0, 10.0, 0.1)
        self._sleep = sleep
        self._server = _server(endpoint, credentials.session, timeout, https_verify)

    def __repr__(self) -> str:
        return f"OneClient({safe_url(self.endpoint)!r}, user={self.credentials.user!r})"

    # ------------------------------------------------------------------ calls
    def call(self, method: str, *params: Any, attempts: int | None = None, vm: int | None = None) -> Any:
        """``one.<method>(session, *params)``, retried on transient failures up to ``attempts`` tries."""
        tries = self.attempts if attempts is None else attempts
        failures = 0
        while True:
            try:
                return self._once(method, params, vm)
            except OneCallError as e:
                failures += 1
                if not e.transient or failures >= tries:
                    raise
                delay = self.backoff.delay(failures)
                log.info("one.%s failed (%s); retry in %.2fs", method, e.hypervisor_message, delay)
                self._sleep(delay)

    def _once(self, method: str, params: tuple, vm: int | None) -> Any:
        fn = self._server
        for part in method.split("."):
            fn = getattr(fn, part)
        clean = self.credentials.redact
        try:
            return fn(*params)
        except pyone.OneException as e:
            code = next((c for cls, c in _CODES if isinstance(e, cls)), None)
            transient = code in (None, INTERNAL) and "Fault" not in str(e)
            raise OneCallError(method, clean(str(e)), code=code, transient=transient, vm=vm) from None
        except xmlrpc.client.ProtocolError as e:
            raise OneCallError(method, clean(f"HTTP {e.errcode} {e.errmsg} from {safe_url(self.endpoint)}"),
                               transient=e.errcode >= 500, connection_lost=e.errcode >= 500, vm=vm) from None
        except (requests.RequestException, OSError) as e:
            kind = "timed out" if isinstance(e, requests.Timeout) else "unreachable"
            raise OneCallError(method, clean(f"oned at {safe_url(self.endpoint)} {kind}: {type(e).__name__}"),
                               transient=True, connection_lost=True, vm=vm) from None
        except xmlrpc.client.ResponseError as e:
            raise OneCallError(method, clean(f"bad XML-RPC answer: {e}"), transient=True, vm=vm) from None
        except Exception as e:  # noqa: BLE001 - e.g. an answer pyone's bindings cannot parse
            raise OneCallError(method, clean(f"{type(e).__name__}: {e}"), transient=False, vm=vm) from None

    # ------------------------------------------------------------------ reads
    def vms(self, *, state: int = -1, attempts: int | None = None) -> list[OneVM]:
        """Every VM (``one.vmpool.infoextended(-2, -1, -1, state)``: full templates, HAIZEA included)."""
        pool = self.call("vmpool.infoextended", -2, -1, -1, state, attempts=attempts)
        return [vm_from_binding(v) for v in (getattr(pool, "VM", None) or [])]

    def vm(self, vm_id: int, *, attempts: int | None = None) -> OneVM:
        return vm_from_binding(self.call("vm.info", vm_id, attempts=attempts, vm=vm_id))

    def hosts(self, *, attempts: int | None = None) -> list[OneHost]:
        pool = self.call("hostpool.info", attempts=attempts)
        return [host_from_binding(h) for h in (getattr(pool, "HOST", None) or [])]

    # ------------------------------------------------------------------ actions
    def deploy(self, vm_id: int, host_id: int, ds_id: int = -1, *, enforce: bool = True) -> None:
        self.call("vm.deploy", vm_id, host_id, enforce, ds_id, vm=vm_id)

    def action(self, name: str, vm_id: int) -> None:
        """``one.vm.action(name, id)``: terminate[-hard], stop, undeploy, resume, hold, release..."""
        self.call("vm.action", name, vm_id, vm=vm_id)

    def migrate(self, vm_id: int, host_id: int, *, live: bool, ds_id: int = -1, enforce: bool = True,
                kind: int = 0) -> None:
        self.call("vm.migrate", vm_id, host_id, live, enforce, ds_id, kind, vm=vm_id)

    def update(self, vm_id: int, text: str, *, merge: bool = True) -> None:
        """Edit the VM's user template (type 1 merges, 0 replaces)."""
        self.call("vm.update", vm_id, text, 1 if merge else 0, vm=vm_id)


def host_uri(host_id: int) -> str:
    """The enactment key of an OpenNebula host (the gate groups hosts by its scheme ``opennebula``)."""
    return f"opennebula:{host_id}"


def host_id_of(uri: str) -> int:
    scheme, _, rest = uri.partition(":")
    if scheme != "opennebula" or not rest.isdigit():
        raise ValueError(f"not an OpenNebula host URI: {uri!r}")
    return int(rest)


def site_from_hosts(hosts: list[OneHost]) -> Site:
    """Galerna's site from OpenNebula's monitored hosts, capacity converted to cores and MB."""
    usable = [h for h in hosts if h.monitored and h.max_cpu > 0]
    if not usable:
        raise ValueError("OpenNebula has no monitored host with capacity (host STATE 2, MAX_CPU > 0)")
    return Site(Host(h.name, {"cpu": h.cpu, "memory": h.memory}) for h in usable)
