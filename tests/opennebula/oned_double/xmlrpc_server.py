"""oned's XML-RPC face: a real HTTP server on a loopback port, at `/RPC2`, answering with oned's envelopes.

Every call takes the session string `user:password` first. Success is `[true, value, 0]`; failure is
`[false, "[method] message", code, resp_id, replication_idx<i8>]` (`RequestXRPC::make_response`). Parameters are
type-checked as xmlrpc-c's `getInt`/`getBoolean`/`getString` do: a wrong type is an XML-RPC fault, not an envelope.
"""
from __future__ import annotations

import threading
import xmlrpc.client
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import Callable
from xml.sax.saxutils import escape
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer

from . import actions, documents
from .errors import ErrorCode, OnedError, no_such
from .model import ApiCall, Model, User
from .states import VmState
from .templates import TemplateSyntaxError, parse_template

# xmlrpc-c's fault code for a parameter of the wrong type or a missing one (`girerr` -> fault::CODE_TYPE).
FAULT_TYPE = -501
FAULT_NO_SUCH_METHOD = -506
ONE_VERSION = "7.0.0"

_TYPE_NAMES = {"i": "integer", "b": "boolean", "s": "string"}

# oned.conf's VM_ADMIN_OPERATIONS (the one.vm.action names among them); the other actions need MANAGE.
VM_ADMIN_ACTIONS = frozenset({"resched", "unresched"})


def authorize_vm(model: Model, user: User, vid: int, operation: str) -> None:
    """`AuthManager` with the default ACLs: oneadmin (uid 0 or group 0) may do anything; an owner has USE and
    MANAGE on its VMs (permissions 1 1 0) but not ADMIN; nobody else has anything."""
    vm = model.vms.get(vid)
    if vm is None or user.id == 0 or user.gid == 0:
        return  # a missing VM is NO_EXISTS, raised by the action itself
    if vm.uid == user.id and operation in ("USE", "MANAGE"):
        return
    raise OnedError(ErrorCode.AUTHORIZATION, f"Not authorized to perform {operation} VM [{vid}]", resp_id=vid,
                    uid=user.id)


class I8(int):
    """An integer oned sends as `<i8>` (the replication index of an error envelope)."""


def _value_xml(value: object) -> str:
    if isinstance(value, bool):
        return f"<value><boolean>{int(value)}</boolean></value>"
    if isinstance(value, I8):
        return f"<value><i8>{int(value)}</i8></value>"
    if isinstance(value, int):
        return f"<value><int>{value}</int></value>"
    return f"<value><string>{escape(str(value))}</string></value>"


def envelope_xml(values: list) -> bytes:
    """A methodResponse carrying oned's array envelope."""
    data = "".join(_value_xml(v) for v in values)
    return (f"<?xml version=\"1.0\"?>\n<methodResponse><params><param><value><array><data>{data}</data></array>"
            f"</value></param></params></methodResponse>\r\n").encode()


@dataclass
class Method:
    required: str  # parameter types after the session: i int, b bool, s string
    optional: str
    handler: Callable[..., object]
    info: bool = False  # *.info calls raise no API event (HookAPI's exclusion list)


@dataclass
class CallFault:
    code: ErrorCode
    message: str


class OnedRpc:
    """The method table and dispatch: authentication, parameter types, envelopes, API events, injected faults."""

    def __init__(self, model: Model, list_order: str = "DESC"):
        self.model = model
        self.list_order = list_order
        self.call_faults: dict[str, list[CallFault]] = {}
        self.calls: list[tuple[str, tuple]] = []  # every call seen, without its session
        m = Method
        self.methods: dict[str, Method] = {
            "one.system.version": m("", "", self.system_version, info=True),
            "one.system.config": m("", "", self.system_config, info=True),
            "one.vm.allocate": m("s", "b", self.vm_allocate),
            "one.vm.info": m("i", "b", self.vm_info, info=True),
            "one.vm.deploy": m("ii", "bis", self.vm_deploy),
            "one.vm.action": m("si", "", self.vm_action),
            "one.vm.migrate": m("iib", "bii", self.vm_migrate),
            "one.vm.update": m("is", "i", self.vm_update),
            "one.vm.recover": m("ii", "", self.vm_recover),
            "one.vmpool.info": m("iiii", "s", self.vmpool_info, info=True),
            "one.vmpool.infoextended": m("iiii", "s", self.vmpool_infoextended, info=True),
            "one.host.info": m("i", "b", self.host_info, info=True),
            "one.hostpool.info": m("", "", self.hostpool_info, info=True),
            "one.datastore.info": m("i", "b", self.datastore_info, info=True),
            "one.datastorepool.info": m("", "", self.datastorepool_info, info=True),
            "one.template.allocate": m("s", "", self.template_allocate),
            "one.template.info": m("i", "bb", self.template_info, info=True),
            "one.template.instantiate": m("isbsb", "", self.template_instantiate),
        }

    # ---- dispatch ---------------------------------------------------------------------------------------------
    def fail_next(self, method: str, code: ErrorCode = ErrorCode.INTERNAL, message: str = "Internal error") -> None:
        """Make the next call of `method` fail with this code and message (after authentication)."""
        with self.model.lock:
            self.call_faults.setdefault(method, []).append(CallFault(code, message))

    def dispatch(self, method: str, params: tuple) -> bytes:
        spec = self.methods.get(method)
        if spec is None:
            raise xmlrpc.client.Fault(FAULT_NO_SUCH_METHOD, f"Unknown method name: {method}")
        self._check_types(spec, params)
        session, args = params[0], params[1:]
        with self.model.lock:
            self.calls.append((method, args))
            self.model.tick()
            user = self.model.authenticate(session)
            try:
                if user is None:
                    raise OnedError(ErrorCode.AUTHENTICATION)
                pending = self.call_faults.get(method)
                if pending:
                    fault = pending.pop(0)
                    raise OnedError(fault.code, fault.message)
                value = spec.handler(user, *args)
            except OnedError as exc:
                response = [False, exc.render(method), int(exc.code), exc.resp_id, I8(0)]
                if not spec.info and user is not None:  # oned returns before its hooks when auth fails
                    self.model.api_called(ApiCall(method, list(args), False, response[1], int(exc.code),
                                                  exc.resp_id))
                return envelope_xml(response)
            if not spec.info:
                extra = ""
                if method == "one.vm.allocate" or method == "one.template.instantiate":
                    extra = documents.vm_full(self.model.vms[value])
                self.model.api_called(ApiCall(method, list(args), True, value, 0, extra_xml=extra))
            return envelope_xml([True, value, 0])

    @staticmethod
    def _check_types(spec: Method, params: tuple) -> None:
        types = "s" + spec.required + spec.optional
        if len(params) < 1 + len(spec.required):
            raise xmlrpc.client.Fault(FAULT_TYPE, "Not enough parameters")
        if len(params) > len(types):
            raise xmlrpc.client.Fault(FAULT_TYPE, "Too many parameters")
        for position, (kind, value) in enumerate(zip(types, params)):
            ok = {"i": isinstance(value, int) and not isinstance(value, bool),
                  "b": isinstance(value, bool),
                  "s": isinstance(value, str)}[kind]
            if not ok:
                raise xmlrpc.client.Fault(
                    FAULT_TYPE, f"Parameter {position} that is supposed to be {_TYPE_NAMES[kind]} is not")

    # ---- system -----------------------------------------------------------------------------------------------
    def system_version(self, user: User) -> str:
        return ONE_VERSION

    def system_config(self, user: User) -> str:
        return ("<OPENNEBULA_CONFIGURATION><API_LIST_ORDER><![CDATA[" + self.list_order + "]]></API_LIST_ORDER>"
                "<MAX_ACTIONS_PER_HOST><![CDATA[1]]></MAX_ACTIONS_PER_HOST>"
                "<PORT><![CDATA[2633]]></PORT></OPENNEBULA_CONFIGURATION>")

    # ---- VMs --------------------------------------------------------------------------------------------------
    def vm_allocate(self, user: User, template: str, on_hold: bool = False) -> int:
        return actions.allocate(self.model, user, template, on_hold)

    def vm_info(self, user: User, vid: int, decrypt: bool = False) -> str:
        authorize_vm(self.model, user, vid, "USE")
        vm = self.model.vms.get(vid)
        if vm is None:
            raise no_such("VM", vid)
        return documents.vm_full(vm)

    def vm_deploy(self, user: User, vid: int, hid: int, enforce: bool = False, ds_id: int = -1,
                  nic: str = "") -> int:
        authorize_vm(self.model, user, vid, "ADMIN")
        return actions.deploy(self.model, vid, hid, enforce, ds_id, nic)

    def vm_action(self, user: User, name: str, vid: int) -> int:
        authorize_vm(self.model, user, vid, "ADMIN" if name in VM_ADMIN_ACTIONS else "MANAGE")
        return actions.vm_action(self.model, name, vid)

    def vm_migrate(self, user: User, vid: int, hid: int, live: bool, enforce: bool = False, ds_id: int = -1,
                   mtype: int = 0) -> int:
        authorize_vm(self.model, user, vid, "ADMIN")
        return actions.migrate(self.model, vid, hid, live, enforce, ds_id, mtype)

    def vm_update(self, user: User, vid: int, template: str, update_type: int = 0) -> int:
        authorize_vm(self.model, user, vid, "MANAGE")
        return actions.update(self.model, vid, template, update_type)

    def vm_recover(self, user: User, vid: int, op: int) -> int:
        authorize_vm(self.model, user, vid, "ADMIN")
        return actions.recover(self.model, vid, op)

    def _select_vms(self, user: User, filter_flag: int, start: int, end: int, state: int) -> list:
        """`VirtualMachinePoolInfo` + `PoolSharedAPI::dump`: owner filter, id range or page, state filter."""
        if state < -2 or state > VmState.CLONING_FAILURE:
            raise OnedError(ErrorCode.RPC_API, f"Incorrect state filter {state}")
        if filter_flag < -4:
            raise OnedError(ErrorCode.RPC_API, "Incorrect filter_flag")
        vms = sorted(self.model.vms.values(), key=lambda vm: vm.id, reverse=self.list_order.upper() == "DESC")
        if not (user.id == 0 or user.gid == 0):
            # ACLs: a plain user may USE only its own VMs (VM permissions 1 1 0: no GROUP_U, no OTHER_U).
            vms = [vm for vm in vms if vm.uid == user.id]
        if filter_flag == -3:
            vms = [vm for vm in vms if vm.uid == user.id]
        elif filter_flag == -4:
            vms = [vm for vm in vms if vm.gid == user.gid]
        elif filter_flag >= 0:
            vms = [vm for vm in vms if vm.uid == filter_flag]
        if state == -1:
            vms = [vm for vm in vms if vm.state != VmState.DONE]
        elif state >= 0:
            vms = [vm for vm in vms if vm.state == state]
        if end < -1:  # pagination: `start` is the offset, -end the page size
            offset = max(start, 0)
            return vms[offset:offset - end]
        if start != -1:
            vms = [vm for vm in vms if vm.id >= start and (end == -1 or vm.id <= end)]
        return vms

    def vmpool_info(self, user: User, filter_flag: int, start: int, end: int, state: int, query: str = "") -> str:
        return documents.vm_pool(self._select_vms(user, filter_flag, start, end, state), extended=False)

    def vmpool_infoextended(self, user: User, filter_flag: int, start: int, end: int, state: int,
                            query: str = "") -> str:
        return documents.vm_pool(self._select_vms(user, filter_flag, start, end, state), extended=True)

    # ---- hosts, datastores, templates -------------------------------------------------------------------------
    def host_info(self, user: User, hid: int, decrypt: bool = False) -> str:
        host = self.model.hosts.get(hid)
        if host is None:
            raise no_such("HOST", hid)
        return documents.host_xml(host, self.model, self.model.now())

    def hostpool_info(self, user: User) -> str:
        return documents.host_pool(self.model)

    def datastore_info(self, user: User, ds_id: int, decrypt: bool = False) -> str:
        ds = self.model.datastores.get(ds_id)
        if ds is None:
            raise no_such("DATASTORE", ds_id)
        return documents.datastore_xml(ds)

    def datastorepool_info(self, user: User) -> str:
        return documents.datastore_pool(self.model)

    def template_allocate(self, user: User, text: str) -> int:
        try:
            template = parse_template(text)
        except TemplateSyntaxError as exc:
            raise OnedError(ErrorCode.INTERNAL, str(exc)) from None
        name = template.get("NAME")
        if not isinstance(name, str) or not name:
            raise OnedError(ErrorCode.ALLOCATE, "No NAME in template.", obj="TEMPLATE")
        template.erase("NAME")
        return self.model.add_template(name, template, user).id

    def template_info(self, user: User, tid: int, extended: bool = False, decrypt: bool = False) -> str:
        vmt = self.model.templates.get(tid)
        if vmt is None:
            raise no_such("TEMPLATE", tid)
        return documents.vm_template_xml(vmt, self.model.now())

    def template_instantiate(self, user: User, tid: int, name: str, on_hold: bool, extra: str,
                             persistent: bool) -> int:
        return actions.instantiate(self.model, user, tid, name, on_hold, extra)


class _Handler(SimpleXMLRPCRequestHandler):
    rpc_paths = ("/RPC2",)

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


class _Server(ThreadingMixIn, SimpleXMLRPCServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, rpc: OnedRpc):
        self.rpc = rpc
        super().__init__(("127.0.0.1", 0), requestHandler=_Handler, logRequests=False, allow_none=False)

    def _marshaled_dispatch(self, data, dispatch_method=None, path=None):
        try:
            params, method = xmlrpc.client.loads(data, use_builtin_types=True)
            return self.rpc.dispatch(method, params)
        except xmlrpc.client.Fault as fault:
            return xmlrpc.client.dumps(fault, methodresponse=True, allow_none=False).encode()
        except Exception as exc:  # a bug in the double: surface it as a fault the test will see
            return xmlrpc.client.dumps(xmlrpc.client.Fault(1, f"{type(exc).__name__}: {exc}"),
                                       methodresponse=True).encode()


class XmlRpcServer:
    """The HTTP server in a thread; `url` is `http://127.0.0.1:<port>/RPC2`."""

    def __init__(self, rpc: OnedRpc):
        self.rpc = rpc
        self._server = _Server(rpc)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name="oned-double-xmlrpc", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/RPC2"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
