"""The SCHED_MAD driver program as oned runs it: a subprocess on pipes with stderr closed, asking a plan socket."""
from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from lxml import etree

from galerna.opennebula.planbook import PlanBook, PlanServer
from galerna.opennebula.sched_mad import handle
from galerna.opennebula.sched_protocol import ProtocolError, b64, log_line, parse_driver_action, parse_line, reply

ROOT = Path(__file__).resolve().parents[2]
XSD = ROOT.parent / "shared" / "data" / "opennebula-xsd"


def vm_xml(vid, user=""):
    return (f"<VM><ID>{vid}</ID><UID>0</UID><GID>0</GID><UNAME>oneadmin</UNAME><GNAME>oneadmin</GNAME>"
            f"<NAME>vm{vid}</NAME><STATE>1</STATE><LCM_STATE>0</LCM_STATE><STIME>1800000000</STIME>"
            f"<TEMPLATE><CPU>1</CPU><MEMORY>512</MEMORY></TEMPLATE><USER_TEMPLATE>{user}</USER_TEMPLATE>"
            "<HISTORY_RECORDS/></VM>")


def host_xml(hid):
    return (f"<HOST><ID>{hid}</ID><NAME>node{hid}</NAME><STATE>2</STATE><CLUSTER_ID>0</CLUSTER_ID><HOST_SHARE>"
            "<MEM_USAGE>0</MEM_USAGE><CPU_USAGE>0</CPU_USAGE><MAX_MEM>8388608</MAX_MEM><MAX_CPU>400</MAX_CPU>"
            "</HOST_SHARE></HOST>")


def doc(vms, hosts=(0, 1), reqs=None):
    reqs = reqs or {v: ([0, 1], [0]) for v in vms}
    req = "".join(f"<VM><ID>{v}</ID><HOSTS>{''.join(f'<ID>{h}</ID>' for h in hs)}</HOSTS>"
                  f"<DATASTORES>{''.join(f'<ID>{d}</ID>' for d in ds)}</DATASTORES></VM>" for v, (hs, ds) in reqs.items())
    return (f"<SCHEDULER_DRIVER_ACTION><VM_POOL>{''.join(vm_xml(v) for v in vms)}</VM_POOL>"
            f"<HOST_POOL>{''.join(host_xml(h) for h in hosts)}</HOST_POOL>"
            "<DATASTORE_POOL><DATASTORE><ID>0</ID><TYPE>1</TYPE></DATASTORE><DATASTORE><ID>1</ID><TYPE>0</TYPE>"
            f"</DATASTORE></DATASTORE_POOL><REQUIREMENTS>{req}</REQUIREMENTS></SCHEDULER_DRIVER_ACTION>")


def validate_plan(xml: str) -> None:
    root = etree.fromstring(xml.encode())
    for el in root.iter():
        el.tag = "{http://opennebula.org/XMLSchema}" + el.tag
    etree.XMLSchema(etree.parse(str(XSD / "plan.xsd"))).assertValid(root)


def test_line_framing():
    m = parse_line(f"PLACE  -1 {b64('<X/>')}\n")  # oned's empty status: two spaces
    assert (m.type, m.status, m.id, m.payload) == ("PLACE", "", "-1", b"<X/>")
    assert parse_line("INIT\n").type == "INIT"
    with pytest.raises(ProtocolError, match="not base64"):
        parse_line("PLACE  -1 !!!")
    with pytest.raises(ProtocolError, match="expected"):
        parse_line("PLACE -1")
    assert reply("PLACE", True, "-1", "<PLAN/>") == f"PLACE SUCCESS -1 {b64('<PLAN/>')}"
    assert log_line("E", 7, "no room") == f"LOG E 7 {b64('no room')}"


def test_driver_action_parsing():
    a = parse_driver_action(doc([3, 4], reqs={3: ([1], [0, 1]), 4: ([0, 1], [0])}))
    assert [v.id for v in a.vms] == [3, 4] and [h.cpu for h in a.hosts] == [4.0, 4.0]
    assert a.hosts_allowed == {3: [1], 4: [0, 1]} and a.system_datastores == [0]


def test_book_answers_only_wanted_vms_with_host_and_datastore():
    seen = []
    book = PlanBook(on_pending=lambda vms: seen.append([v.id for v in vms]))
    book.want(3, 1)
    book.want(4, 0)
    book.want(9, 0)  # not pending in this PLACE: not in the plan
    book.note(5, "E", "HAIZEA/START: 'x' is not an ISO time")
    book.note(6, "I", "lease one-6 starts at 2027-01-15 09:00:00")
    actions, logs = book.answer(parse_driver_action(doc([3, 4, 5, 6], reqs={3: ([1], [0]), 4: ([1], [0]),
                                                                             5: ([0], [0]), 6: ([0], [0])})))
    assert seen == [[3, 4, 5, 6]]
    assert [(a.vm_id, a.operation, a.host_id, a.ds_id) for a in actions] == [(3, "deploy", 1, 0)]
    assert ("W", 4, "Galerna planned host 0, but OpenNebula's requirements allow only hosts [1]") in logs
    assert ("E", 5, "HAIZEA/START: 'x' is not an ISO time") in logs
    assert ("I", 6, "lease one-6 starts at 2027-01-15 09:00:00") in logs


def test_handle_optimize_has_no_moves_and_a_down_daemon_gives_an_empty_plan():
    (out,) = handle(f"OPTIMIZE  0 {b64('<SCHEDULER_DRIVER_ACTION/>')}", lambda d: {})
    kind, status, cid, payload = out.split()
    assert (kind, status, cid) == ("OPTIMIZE", "SUCCESS", "0")
    assert base64.b64decode(payload) == b"<PLAN><ID>0</ID></PLAN>"

    def down(_):
        raise ConnectionRefusedError("no daemon")

    (out,) = handle(f"PLACE  -1 {b64(doc([3]))}", down)
    assert base64.b64decode(out.split()[-1]) == b"<PLAN><ID>-1</ID></PLAN>"


def test_the_program_under_oneds_conditions(tmp_path):
    book = PlanBook()
    book.want(3, 1)
    book.note(4, "E", "GROUP g: its VMs disagree")
    sock = tmp_path / "plan.sock"
    server = PlanServer(sock, book).start()
    logfile = tmp_path / "log" / "sched.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        # oned: execlp(cmd, cmd, ARGUMENTS) with the whole ARGUMENTS string as one argv entry, stderr closed
        p = subprocess.Popen([sys.executable, "-m", "galerna.opennebula.sched_mad", f"-s {sock} -l {logfile}"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                             env=env, cwd=tmp_path, pass_fds=(), close_fds=True,
                             preexec_fn=lambda: os.close(2))
        lines = ["INIT\n", f"PLACE  -1 {b64(doc([3, 4]))}\n", "FINALIZE\n"]
        out, _ = p.communicate("".join(lines), timeout=60)
        assert p.returncode == 0
    finally:
        server.stop()
    got = out.splitlines()
    assert got[0] == "INIT SUCCESS"
    assert got[1] == log_line("E", 4, "GROUP g: its VMs disagree")
    kind, status, pid, payload = got[2].split()
    assert (kind, status, pid) == ("PLACE", "SUCCESS", "-1")
    plan = base64.b64decode(payload).decode()
    validate_plan(plan)
    act = ET.fromstring(plan).find("ACTION")
    assert [act.findtext(k) for k in ("VM_ID", "OPERATION", "HOST_ID", "DS_ID")] == ["3", "deploy", "1", "0"]
    assert got[3] == "FINALIZE SUCCESS"
    text = logfile.read_text()
    assert "started" in text and "PLACE" in text and "finalized" in text
