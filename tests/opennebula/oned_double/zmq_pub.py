"""oned's event stream: a ZeroMQ PUB socket publishing `[key, base64(HOOK_MESSAGE)]` as one_hm does.

Keys follow `src/hm_mad/one_hm.rb#key` (trailing spaces included): for a VM state change
`EVENT VM <id>/<STATE>/<LCM_STATE> ` and `EVENT STATE VM/<STATE>/<LCM_STATE>/<id> ` (+ `EVENT SERVICE <sid> `),
for a host `EVENT HOST <id>/<STATE>/ ` and `EVENT STATE HOST/<STATE>//<id> `, and for every non-info call
`EVENT API <method> <1|0>`. Payloads are `HookStateVM`/`HookStateHost`/`HookAPI::format_message`. PUB/SUB loses
messages (slow joiners, HWM); `drop` makes the double lose them on purpose so reconciliation gets tested.
"""
from __future__ import annotations

import base64
import queue
import threading
from typing import Callable
from xml.sax.saxutils import escape

import zmq

from . import documents
from .model import ApiCall, Host, Model, Vm
from .states import HostState, Lcm, VmState


def vm_state_message(vm: Vm) -> str:
    """`HookStateVM::format_message` (before base64)."""
    service = vm.user_template.get("SERVICE_ID")
    remote = (f"<REMOTE_HOST>{escape(vm.last_history.hostname)}</REMOTE_HOST>" if vm.history
              else "<REMOTE_HOST/>")
    return ("<HOOK_MESSAGE><HOOK_TYPE>STATE</HOOK_TYPE><HOOK_OBJECT>VM</HOOK_OBJECT>"
            f"<STATE>{VmState(vm.state).name}</STATE><LCM_STATE>{Lcm(vm.lcm_state).name}</LCM_STATE>"
            f"<RESOURCE_ID>{vm.id}</RESOURCE_ID>"
            + (f"<SERVICE_ID>{escape(service)}</SERVICE_ID>" if isinstance(service, str) and service else "")
            + remote + documents.vm_full(vm) + "</HOOK_MESSAGE>")


def vm_state_keys(vm: Vm) -> list[str]:
    state, lcm = VmState(vm.state).name, Lcm(vm.lcm_state).name
    keys = [f"EVENT VM {vm.id}/{state}/{lcm} ", f"EVENT STATE VM/{state}/{lcm}/{vm.id} "]
    service = vm.user_template.get("SERVICE_ID")
    if isinstance(service, str) and service:
        keys.append(f"EVENT SERVICE {service} ")
    return keys


def host_state_message(host: Host, model: Model) -> str:
    """`HookStateHost::format_message`: note its element order (REMOTE_HOST before RESOURCE_ID) is oned's."""
    return ("<HOOK_MESSAGE><HOOK_TYPE>STATE</HOOK_TYPE><HOOK_OBJECT>HOST</HOOK_OBJECT>"
            f"<STATE>{HostState(host.state).name}</STATE><REMOTE_HOST>{escape(host.name)}</REMOTE_HOST>"
            f"<RESOURCE_ID>{host.id}</RESOURCE_ID>" + documents.host_xml(host, model, model.now())
            + "</HOOK_MESSAGE>")


def host_state_keys(host: Host) -> list[str]:
    state = HostState(host.state).name
    return [f"EVENT HOST {host.id}/{state}/ ", f"EVENT STATE HOST/{state}//{host.id} "]


def _param(position: int, kind: str, value: object) -> str:
    if isinstance(value, bool):
        value = "true" if value else "false"
    return (f"<PARAMETER><POSITION>{position}</POSITION><TYPE>{kind}</TYPE>"
            f"<VALUE>{escape(str(value))}</VALUE></PARAMETER>")


def api_message(call: ApiCall) -> str:
    """`HookAPI::format_message`: IN parameters (the session hidden as ****), then `make_xml_response`'s OUTs."""
    ins = [_param(1, "IN", "****")] + [_param(i + 2, "IN", p) for i, p in enumerate(call.params)]
    outs = [_param(1, "OUT", call.success), _param(2, "OUT", call.value), _param(3, "OUT", call.code)]
    if not call.success:
        outs.append(_param(4, "OUT", call.resp_id))
    return ("<HOOK_MESSAGE><HOOK_TYPE>API</HOOK_TYPE>"
            f"<CALL>{call.method}</CALL><CALL_INFO><RESULT>{int(call.success)}</RESULT>"
            f"<PARAMETERS>{''.join(ins + outs)}</PARAMETERS><EXTRA>{call.extra_xml}</EXTRA></CALL_INFO>"
            "</HOOK_MESSAGE>")


def api_keys(call: ApiCall) -> list[str]:
    return [f"EVENT API {call.method} {int(call.success)}"]


class ZmqPublisher:
    """A PUB socket on a free loopback port, fed by the model's listeners, sent from its own thread.

    `drop` (a predicate on the key, or True for all) loses messages on purpose; `sent` and `dropped` record
    (key, decoded payload) in order.
    """

    def __init__(self, model: Model, endpoint: str = "tcp://127.0.0.1"):
        self.model = model
        self._context = zmq.Context()
        self._socket = self._context.socket(zmq.PUB)
        port = self._socket.bind_to_random_port(endpoint)
        self.endpoint = f"{endpoint}:{port}"
        self._queue: queue.Queue = queue.Queue()
        self.drop: bool | Callable[[str], bool] = False
        self.sent: list[tuple[str, str]] = []
        self.dropped: list[tuple[str, str]] = []
        self._thread = threading.Thread(target=self._run, name="oned-double-zmq", daemon=True)

    def start(self) -> None:
        self.model.vm_listeners.append(self._on_vm)
        self.model.host_listeners.append(self._on_host)
        self.model.api_listeners.append(self._on_api)
        self._thread.start()

    def _on_vm(self, vm: Vm) -> None:
        self._publish(vm_state_keys(vm), vm_state_message(vm))

    def _on_host(self, host: Host) -> None:
        self._publish(host_state_keys(host), host_state_message(host, self.model))

    def _on_api(self, call: ApiCall) -> None:
        self._publish(api_keys(call), api_message(call))

    def _publish(self, keys: list[str], message: str) -> None:
        """Queue one message per key, the base64 payload shared, as one_hm publishes an EXECUTE."""
        for key in keys:
            self._queue.put((key, message))

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            key, message = item
            if key == "__flush__":
                message.set()
                continue
            drop = self.drop(key) if callable(self.drop) else self.drop
            if drop:
                self.dropped.append((key, message))
                continue
            self._socket.send_multipart([key.encode(), base64.b64encode(message.encode())])
            self.sent.append((key, message))

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until everything queued so far went out (or was dropped)."""
        done = threading.Event()
        self._queue.put(("__flush__", done))
        done.wait(timeout)

    def stop(self) -> None:
        for listeners, fn in ((self.model.vm_listeners, self._on_vm), (self.model.host_listeners, self._on_host),
                              (self.model.api_listeners, self._on_api)):
            if fn in listeners:
                listeners.remove(fn)
        self._queue.put(None)
        self._thread.join(timeout=5)
        self._socket.close(linger=0)
        self._context.term()
