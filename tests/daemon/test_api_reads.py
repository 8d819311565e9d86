"""The API reads the daemon through Service's read methods only: one scheduler thread owns the core, and the
executor's parts are the daemon's. The reads themselves are checked live against a running service loop."""
from __future__ import annotations

import ast
import threading
from pathlib import Path

import pytest

import galerna.api
from galerna.daemon.service import Refused, Service
from galerna.daemon.settings import DaemonConfig, Settings
from galerna.store.db import Store

API_DIR = Path(galerna.api.__file__).parent
# Service attributes that belong to the scheduler thread or the executor: the API must not reach for them.
PRIVATE_TO_THE_DAEMON = {"core", "executor", "uri_of", "name_of_uri", "monitor", "recovery", "names"}


def test_no_api_module_reads_the_core_or_the_executor():
    found = []
    for path in sorted(API_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and node.attr in PRIVATE_TO_THE_DAEMON:
                found.append(f"{path.name}:{node.lineno}: .{node.attr}")
    assert found == []


def test_no_api_module_is_over_400_lines():
    sizes = {p.name: len(p.read_text().splitlines()) for p in API_DIR.glob("*.py")}
    assert {n: k for n, k in sizes.items() if k > 400} == {}


def _running_service(tmp_path) -> Service:
    settings = Settings(daemon=DaemonConfig(enact=False, db=f"sqlite:///{tmp_path / 'g.db'}", data_dir=str(tmp_path)))
    svc = Service(Store(settings.daemon.db), settings)
    svc.start()
    return svc


def _submit(svc: Service, gpu: float = 0.0):
    node = {"cpu": 0.25, "memory": 16} | ({"gpu": gpu} if gpu else {})
    return svc.call("submit", type="be", duration=3600, nodes=[node], start=None, deadline=None, preemptible=True,
                    name=None, image=None, tenant="t")


def test_reads_follow_the_scheduler_thread_while_it_works(tmp_path):
    svc = _running_service(tmp_path)
    try:
        hosts0 = svc.counts()[1]
        assert svc.resource_types() == ("cpu", "memory") and svc.counts()[0] == 0
        seen: list[tuple[int, int]] = []
        errors: list[BaseException] = []
        stop = threading.Event()

        def read() -> None:  # a server thread, reading while the scheduler thread submits and rebuilds
            try:
                while not stop.is_set():
                    seen.append(svc.counts())
                    svc.resource_types()
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        reader = threading.Thread(target=read)
        reader.start()
        futs = [_submit(svc) for _ in range(40)]
        for f in futs:
            f.result(30)
        svc.call("host", action="add", name="gpu1", uri=None, cpu=4.0, memory=1024.0, extra={"gpu": 2}).result(30)
        after = _submit(svc, gpu=1).result(30)
        stop.set()
        reader.join(10)
        assert errors == []
        assert svc.resource_types() == ("cpu", "memory", "gpu")  # the rebuilt core's site, after the host was added
        assert after["state"] != "rejected"
        assert svc.counts() == (41, hosts0 + 1)
        # never torn, never going back: leases only arrive here (an hour each), a host only gets added
        assert all(a[0] <= b[0] and a[1] <= b[1] for a, b in zip(seen, seen[1:]))
    finally:
        svc.stop()


def test_host_vms_of_a_host_without_a_hypervisor_is_a_404_refusal(tmp_path):
    svc = _running_service(tmp_path)
    try:
        with pytest.raises(Refused, match="no hypervisor for host host1") as e:
            svc.host_vms("host1")
        assert e.value.status == 404
    finally:
        svc.stop()
