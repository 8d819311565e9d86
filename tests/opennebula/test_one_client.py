"""The pyone client against a real XML-RPC server on loopback: results, errors, secrets, timeouts."""
from __future__ import annotations

import threading
import time
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer

import pytest

from galerna.opennebula.client import (
    ACTION,
    AUTHENTICATION,
    NO_EXISTS,
    OneCallError,
    OneClient,
    host_id_of,
    host_uri,
    site_from_hosts,
)
from galerna.opennebula.credentials import parse_one_auth
from galerna.opennebula.objects import OneHost

SECRET = "pa55-w0rd-xyz"
CREDS = parse_one_auth(f"oneadmin:{SECRET}", "test")

VM_POOL = """<VM_POOL><VM><ID>42</ID><UID>0</UID><GID>0</GID><UNAME>oneadmin</UNAME><GNAME>oneadmin</GNAME>
<NAME>lease-42</NAME><LAST_POLL>0</LAST_POLL><STATE>3</STATE><LCM_STATE>3</LCM_STATE><RESCHED>0</RESCHED>
<STIME>1743093368</STIME><ETIME>0</ETIME><DEPLOY_ID></DEPLOY_ID>
<TEMPLATE><CPU><![CDATA[0.5]]></CPU><MEMORY><![CDATA[1024]]></MEMORY><VCPU><![CDATA[2]]></VCPU></TEMPLATE>
<USER_TEMPLATE><HAIZEA><DURATION><![CDATA[01:00:00]]></DURATION><START><![CDATA[best_effort]]></START></HAIZEA>
</USER_TEMPLATE><HISTORY_RECORDS><HISTORY><OID>42</OID><SEQ>0</SEQ><HOSTNAME>node1</HOSTNAME><HID>3</HID><CID>0</CID>
<DS_ID>100</DS_ID><VM_MAD>kvm</VM_MAD><TM_MAD>ssh</TM_MAD><ACTION>0</ACTION></HISTORY></HISTORY_RECORDS></VM></VM_POOL>"""

HOST_POOL = """<HOST_POOL><HOST><ID>3</ID><NAME>node1</NAME><STATE>2</STATE><PREV_STATE>2</PREV_STATE><IM_MAD>kvm</IM_MAD>
<VM_MAD>kvm</VM_MAD><CLUSTER_ID>0</CLUSTER_ID><CLUSTER>default</CLUSTER><HOST_SHARE><MEM_USAGE>0</MEM_USAGE>
<CPU_USAGE>50</CPU_USAGE><TOTAL_MEM>8388608</TOTAL_MEM><TOTAL_CPU>400</TOTAL_CPU><MAX_MEM>8388608</MAX_MEM>
<MAX_CPU>400</MAX_CPU><RUNNING_VMS>0</RUNNING_VMS></HOST_SHARE><VMS/><TEMPLATE/></HOST></HOST_POOL>"""


class Fake:
    """Canned oned answers; records every call with its session."""

    def __init__(self):
        self.calls: list[tuple] = []
        self.delay = 0.0
        self.fail_internal = 0

    def _dispatch(self, method, params):
        self.calls.append((method, params))
        time.sleep(self.delay)
        session, *args = params
        if session != CREDS.session:
            return [False, f"[{method}] User couldn't be authenticated, aborting call.", AUTHENTICATION, 0, 0]
        if method == "one.vmpool.infoextended":
            return [True, VM_POOL, 0]
        if method == "one.hostpool.info":
            return [True, HOST_POOL, 0]
        if method == "one.vm.info":
            return [False, f"[one.vm.info] Error getting virtual machine [{args[0]}].", NO_EXISTS, args[0], 0]
        if method == "one.vm.action":
            if self.fail_internal:
                self.fail_internal -= 1
                return [False, "[one.vm.action] Internal error", 0x2000, 0, 0]
            return [False, f'[one.vm.action] Error performing action "{args[0]}": This action is not available '
                           "for state PENDING", ACTION, args[1], 0]
        if method == "one.vm.deploy":
            return [True, args[0], 0]
        if method == "one.vm.update":
            return [True, args[0], 0]
        raise Exception(f"unknown method {method}")


@pytest.fixture
def canned_oned():
    fake = Fake()

    class Quiet(SimpleXMLRPCRequestHandler):
        rpc_paths = ("/RPC2",)

        def log_message(self, *a):
            pass

    srv = SimpleXMLRPCServer(("127.0.0.1", 0), requestHandler=Quiet, logRequests=False, allow_none=True)
    srv.register_instance(fake)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    fake.url = f"http://127.0.0.1:{srv.server_address[1]}/RPC2"
    yield fake
    srv.shutdown()
    srv.server_close()


def test_reads_convert_bindings_to_plain_values(canned_oned):
    c = OneClient(canned_oned.url, CREDS)
    (vm,) = c.vms()
    assert (vm.id, vm.state, vm.lcm_state, vm.host_id, vm.ds_id, vm.stime) == (42, 3, 3, 3, 100, 1743093368.0)
    assert vm.running() and vm.state_name == "ACTIVE/RUNNING"
    assert vm.user_template["HAIZEA"] == {"DURATION": "01:00:00", "START": "best_effort"}
    assert (vm.cpu, vm.memory) == (0.5, 1024.0)
    assert canned_oned.calls[0] == ("one.vmpool.infoextended", (CREDS.session, -2, -1, -1, -1))
    (h,) = c.hosts()
    assert (h.id, h.name, h.cpu, h.memory, h.cpu_usage, h.monitored) == (3, "node1", 4.0, 8192.0, 50.0, True)


def test_capacity_conversion_to_site():
    hosts = [OneHost(0, "a", 2, 800, 16 * 1024 * 1024), OneHost(1, "b", 3, 800, 1024), OneHost(2, "c", 2, 0, 1)]
    site = site_from_hosts(hosts)
    assert [h.name for h in site.hosts] == ["a"] and site.hosts[0].capacity == {"cpu": 8.0, "memory": 16384.0}
    with pytest.raises(ValueError, match="no monitored host"):
        site_from_hosts(hosts[1:])
    assert host_id_of(host_uri(7)) == 7
    with pytest.raises(ValueError):
        host_id_of("test:///x")


def test_parameters_are_typed_as_oned_wants(canned_oned):
    c = OneClient(canned_oned.url, CREDS)
    c.deploy(5, 3, 100)
    c.update(5, 'A = "b"')
    assert canned_oned.calls[-2] == ("one.vm.deploy", (CREDS.session, 5, 3, True, 100))
    assert canned_oned.calls[-1] == ("one.vm.update", (CREDS.session, 5, 'A = "b"', 1))


def test_errors_carry_oneds_message_and_code_and_are_not_transient(canned_oned):
    c = OneClient(canned_oned.url, CREDS, attempts=3)
    with pytest.raises(OneCallError) as e:
        c.vm(99)
    assert e.value.code == NO_EXISTS and not e.value.transient
    assert "Error getting virtual machine [99]" in str(e.value)
    with pytest.raises(OneCallError) as e:
        c.action("suspend", 7)
    assert e.value.code == ACTION and "not available for state PENDING" in e.value.hypervisor_message
    assert sum(1 for m, _ in canned_oned.calls if m == "one.vm.action") == 1  # refusals are not retried


def test_internal_errors_are_retried(canned_oned):
    canned_oned.fail_internal = 2
    slept = []
    c = OneClient(canned_oned.url, CREDS, attempts=3, sleep=slept.append)
    with pytest.raises(OneCallError) as e:  # the third try gets the real (ACTION) answer
        c.action("resume", 7)
    assert e.value.code == ACTION and len(slept) == 2
    assert sum(1 for m, _ in canned_oned.calls if m == "one.vm.action") == 3


def test_bad_session_is_an_authentication_error_without_the_secret(canned_oned):
    wrong = parse_one_auth(f"oneadmin:{SECRET}-wrong", "test")
    c = OneClient(canned_oned.url, wrong)
    with pytest.raises(OneCallError) as e:
        c.hosts()
    assert e.value.code == AUTHENTICATION and "couldn't be authenticated" in str(e.value)
    assert SECRET not in str(e.value) and SECRET not in repr(c)


def test_unreachable_oned_is_transient_and_names_no_secret():
    c = OneClient(f"http://oneadmin:{SECRET}@127.0.0.1:9/RPC2", CREDS, timeout=2)
    with pytest.raises(OneCallError) as e:
        c.hosts()
    assert e.value.transient and e.value.connection_lost and "unreachable" in str(e.value)
    assert SECRET not in str(e.value) and SECRET not in repr(c)


def test_a_hanging_call_times_out(canned_oned):
    canned_oned.delay = 1.5
    c = OneClient(canned_oned.url, CREDS, timeout=0.3)
    t0 = time.monotonic()
    with pytest.raises(OneCallError) as e:
        c.hosts()
    assert time.monotonic() - t0 < 1.4 and "timed out" in str(e.value) and e.value.transient
