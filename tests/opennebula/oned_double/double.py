"""One running double: the model, its ticker and the XML-RPC server (ZeroMQ and SCHED_MAD attach to the model)."""
from __future__ import annotations

from .actions import host_error, host_recovered
from .errors import ErrorCode
from .model import Clock, Model, Ticker, TransitionDelays
from .states import HostState, Lcm, VmState
from .xmlrpc_server import OnedRpc, XmlRpcServer


class OnedDouble:
    """Start/stop the faces of the double and expose its knobs to tests.

    `url` and `session` are what pyone needs: `pyone.OneServer(double.url, session=double.session)`.
    """

    def __init__(self, clock: Clock | None = None, delay: float = 0.05, password: str = "opennebula",
                 list_order: str = "DESC"):
        self.model = Model(clock=clock, delays=TransitionDelays(default=delay), admin_password=password)
        self.session = f"oneadmin:{password}"
        self.rpc = OnedRpc(self.model, list_order=list_order)
        self.server = XmlRpcServer(self.rpc)
        self.ticker = Ticker(self.model)
        self.zmq = None  # a ZmqPublisher once start_zmq() ran

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def zmq_endpoint(self) -> str | None:
        return self.zmq.endpoint if self.zmq else None

    def start(self) -> OnedDouble:
        self.ticker.start()
        self.server.start()
        return self

    def start_zmq(self):
        from .zmq_pub import ZmqPublisher
        self.zmq = ZmqPublisher(self.model)
        self.zmq.start()
        return self.zmq

    def stop(self) -> None:
        self.server.stop()
        self.ticker.stop()
        if self.zmq:
            self.zmq.stop()

    # ---- knobs ------------------------------------------------------------------------------------------------
    def add_host(self, name: str, cpu_cores: float = 4, memory_mb: int = 8192):
        return self.model.add_host(name, cpu_cores, memory_mb)

    def create_host(self, name: str, cpu_cores: float = 4, memory_mb: int = 8192):
        """`onehost create` on a running cloud: the host starts in INIT and becomes MONITORED at its first
        monitoring, each change a HOST state event (`HookStateHost`), unlike `add_host`'s quiet set-up."""
        with self.model.lock:
            host = self.model.add_host(name, cpu_cores, memory_mb)
            host.state = host.prev_state = HostState.INIT
            self.model.set_host_state(host, HostState.MONITORED)
            return host

    def delete_host(self, host_id: int) -> None:
        """`onehost delete` (`HostDelete`: refused while VMs are on it); no state event follows."""
        with self.model.lock:
            host = self.model.hosts[host_id]
            assert not host.vm_ids, "oned refuses to delete a host with VMs"
            del self.model.hosts[host_id]

    def set_delays(self, **delays: float) -> None:
        """Seconds per transient state, e.g. set_delays(PROLOG=1.0, BOOT=0.5)."""
        self.model.delays.set(**delays)

    def fail_next_deploy(self, host_id: int, failure: Lcm = Lcm.BOOT_FAILURE, message: str = "",
                         times: int = 1) -> None:
        """The next `times` deploys to this host (or recover-retries of them) end in BOOT_FAILURE (or
        PROLOG_FAILURE) instead of RUNNING; `message` is the driver's answer, which oned writes to ERROR."""
        with self.model.lock:
            self.model.deploy_faults.setdefault(host_id, []).extend([(failure, message)] * times)

    def fail_next_call(self, method: str, code: ErrorCode = ErrorCode.INTERNAL,
                       message: str = "Internal error") -> None:
        """The next call of `method` answers this error (after authentication), as a failing oned would."""
        self.rpc.fail_next(method, code, message)

    def host_error(self, host_id: int) -> None:
        """The host goes ERROR and its RUNNING VMs UNKNOWN."""
        host_error(self.model, host_id)

    def host_recovered(self, host_id: int) -> None:
        """The host is MONITORED again and its UNKNOWN VMs, still running there, go back to RUNNING."""
        host_recovered(self.model, host_id)

    def set_host_state(self, host_id: int, state: HostState) -> None:
        """Put a host in any state (DISABLED, OFFLINE, ...): PLACE offers only MONITORED hosts."""
        self.model.set_host_state(self.model.hosts[host_id], state)

    def wait_state(self, vid: int, state: VmState, lcm: Lcm = Lcm.LCM_INIT, timeout: float = 5.0) -> bool:
        def reached() -> bool:
            vm = self.model.vms.get(vid)
            return vm is not None and (vm.state, vm.lcm_state) == (state, lcm)
        return self.model.wait_until(reached, timeout)
