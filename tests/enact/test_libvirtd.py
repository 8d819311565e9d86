"""Integration tests against a real libvirtd + QEMU (TCG domains of 48 MiB, no disk).

CI starts libvirtd with scripts/libvirtd_ci.sh (as root). Without a reachable
libvirtd socket these tests skip. The outage test kills that libvirtd,
restarts it with the same command line, and stops what it started by pid;
it is ordered last (see conftest.py).
"""
from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import libvirt
import pytest
from helpers import poll

from galerna.enact.config import EnactmentConfig, GateConfig, RecoveryConfig, RecoveryMode, RetryConfig
from galerna.enact.driver import HostState, OperationKind as Op, VMSpec, VMState, local_move
from galerna.enact.executor import Action, Executor
from galerna.enact.faults import FaultyDriver
from galerna.enact.gate import PoolKind
from galerna.enact.libvirt_driver import LibvirtDriver, init_libvirt
from galerna.enact.monitor import Monitor
from galerna.enact.recovery import RecoveryManager, Step

# One xdist worker runs them all, in order, so the outage test (last) cannot pull libvirtd
# from under another worker.
pytestmark = [pytest.mark.libvirtd, pytest.mark.xdist_group("libvirtd")]

SOCKET = "/run/libvirt/libvirt-sock"
WORK = Path(os.environ.get("LIBVIRT_CI_WORK", "/tmp/libvirt_ci"))
URIS = ["qemu:///system", "qemu+tcp://127.0.0.1/system"]


def reachable(uri: str) -> str | None:
    """None if libvirtd answers on ``uri``, else why not."""
    if not os.path.exists(SOCKET):
        return f"no libvirtd socket at {SOCKET} (CI starts one with scripts/libvirtd_ci.sh as root)"
    init_libvirt()
    try:
        c = libvirt.open(uri)
        c.getLibVersion()
        c.close()
    except libvirt.libvirtError as e:
        return f"libvirtd not reachable at {uri}: {e.get_error_message()}"
    return None


def need(uri: str) -> None:
    why = reachable(uri)
    if why:
        pytest.skip(why)


def name(tag: str) -> str:
    return f"galerna-it{os.getpid()}-{tag}"


def spec(tag: str) -> VMSpec:
    return VMSpec(name(tag), vcpus=1, memory_mb=48, lease_id=f"it-{tag}")


@pytest.fixture
def cleanup():
    """Destroy every VM a test created, whatever happened."""
    made: list[tuple[LibvirtDriver, str]] = []
    yield made
    for d, n in made:
        try:
            d.destroy(n)
        except Exception:  # noqa: BLE001 - best effort
            pass


@pytest.mark.parametrize("uri", URIS)
def test_lifecycle_on_real_qemu(uri, tmp_path, cleanup):
    need(uri)
    d = LibvirtDriver(uri, tmp_path / "state")
    s = spec("life")
    cleanup.append((d, s.name))
    info = d.deploy(s)
    assert info.state is VMState.RUNNING and info.memory_mb == 48
    assert d.deploy(s).uuid == info.uuid  # idempotent
    assert d.pause(s.name).state is VMState.PAUSED
    assert d.unpause(s.name).state is VMState.RUNNING
    assert d.unpause(s.name).state is VMState.RUNNING  # resuming a running domain is state, not a crash
    saved = d.suspend(s.name)
    assert saved.state is VMState.SUSPENDED and Path(saved.state_file).stat().st_size > 0
    assert d.inspect(s.name).state is VMState.SUSPENDED
    # save -> move the state file -> restore (the cold-migration path, on one hypervisor)
    other = LibvirtDriver(uri, tmp_path / "moved")
    moved = local_move(saved.state_file, d, other)
    assert not Path(saved.state_file).exists()
    assert d.resume(s.name, moved).state is VMState.RUNNING
    assert not Path(moved).exists()  # never restored twice
    assert d.resume(s.name).state is VMState.RUNNING
    gone = d.shutdown(s.name, timeout=1.0)  # no guest OS: graceful times out, then destroy
    assert gone.state is VMState.ABSENT and d.inspect(s.name).state is VMState.ABSENT
    assert d.destroy(s.name).state is VMState.ABSENT  # operations on a gone domain are state
    d.close()


def test_concurrent_operations_through_the_gate(tmp_path, cleanup):
    need(URIS[0])
    uri = URIS[0]
    inner = LibvirtDriver(uri, tmp_path / "state")
    d = FaultyDriver(inner)
    cfg = EnactmentConfig(data_dir=str(tmp_path), gate=GateConfig(per_host=2), workers=8)
    ex = Executor({uri: d}, config=cfg)
    vms = [spec(f"gate{i}") for i in range(5)]
    cleanup.extend((inner, s.name) for s in vms)
    results = ex.run_plan([Action.deploy(s, uri) for s in vms], timeout=120)
    assert [r.error for r in results if not r.ok] == []
    assert d.max_active == 2  # the limit, reached and never exceeded
    # saves go through the backup pool (1 per host), side by side with ordinary operations
    results = ex.run_plan([a for s in vms[:2] for a in (Action(Op.SUSPEND, s.name, uri), Action(Op.RESUME, s.name, uri))]
                          + [Action(Op.PAUSE, vms[2].name, uri), Action(Op.UNPAUSE, vms[2].name, uri)], timeout=120)
    assert [r.error for r in results if not r.ok] == []
    assert ex.gate.max_active[(uri, None, PoolKind.BACKUP)] == 1
    assert {inner.inspect(s.name).state for s in vms} == {VMState.RUNNING}
    results = ex.run_plan([Action(Op.DESTROY, s.name, uri) for s in vms], timeout=120)
    assert all(r.ok for r in results)
    assert {inner.inspect(s.name).state for s in vms} == {VMState.ABSENT}
    ex.close()
    inner.close()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


_wait = poll


def _qemu_pid(vm: str) -> int:
    return int(Path(f"/run/libvirt/qemu/{vm}.pid").read_text().strip())


@pytest.mark.libvirtd_outage
def test_libvirtd_killed_and_restarted(tmp_path, cleanup):
    uri = URIS[0]
    need(uri)
    pid_file = WORK / "libvirtd.pid"
    if not pid_file.exists() or not _alive(int(pid_file.read_text().strip())):
        pytest.skip(f"no CI libvirtd pid file at {pid_file}: will not kill a libvirtd this suite did not get from CI")
    old_pid = int(pid_file.read_text().strip())
    cmdline = Path(f"/proc/{old_pid}/cmdline").read_bytes().split(b"\0")
    argv = [a.decode() for a in cmdline if a]
    assert Path(argv[0]).name == "libvirtd", argv

    d = LibvirtDriver(uri, tmp_path / "state")
    cfg = EnactmentConfig(data_dir=str(tmp_path), retry=RetryConfig(attempts=2, backoff_initial=0.2),
                          recovery=RecoveryConfig(mode=RecoveryMode.RESTART_IN_PLACE, grace_period=0))
    ex = Executor({uri: d}, config=cfg)
    survivor, victim = spec("survivor"), spec("victim")
    cleanup.extend([(d, survivor.name), (d, victim.name)])
    assert all(r.ok for r in ex.run_plan([Action.deploy(survivor, uri), Action.deploy(victim, uri)], timeout=120))
    survivor_qemu = _qemu_pid(survivor.name)
    mon = Monitor({uri: d}, ex.inventory, interval=3600, poll_timeout=5)
    rec = RecoveryManager({uri: d}, ex.inventory, ex, cfg.recovery)
    mon.on_host_change(rec.host_changed)
    mon.start()
    started: subprocess.Popen | None = None
    try:
        os.kill(old_pid, signal.SIGKILL)
        assert _wait(lambda: not _alive(old_pid), 10)
        os.kill(_qemu_pid(victim.name), signal.SIGKILL)  # the victim's "power" goes while libvirtd is down
        mon.poll()
        assert ex.inventory.hosts[uri] is HostState.ERROR
        assert {ex.inventory.get(s.name).observed for s in (survivor, victim)} == {VMState.UNKNOWN}
        assert rec.tick() == []  # nothing is started while the host cannot be seen

        log = open(tmp_path / "libvirtd.out", "w")
        started = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
        assert _wait(lambda: reachable(uri) is None, 60, 0.25), "libvirtd did not come back"
        assert _wait(lambda: (mon.poll(), ex.inventory.hosts[uri] is HostState.UP)[1], 30, 0.25)
        assert ex.inventory.get(survivor.name).observed is VMState.RUNNING  # adopted, still the same process
        assert _qemu_pid(survivor.name) == survivor_qemu
        assert ex.inventory.get(victim.name).observed in (VMState.SHUTOFF, VMState.CRASHED, VMState.ABSENT)
        events = rec.tick()
        assert [(e.step, e.vm) for e in events] == [(Step.RESTART_IN_PLACE, victim.name)]
        assert _wait(lambda: d.inspect(victim.name).state is VMState.RUNNING, 60)
        mon.poll()
        assert {ex.inventory.get(s.name).observed for s in (survivor, victim)} == {VMState.RUNNING}
        assert rec.tick() == []
        assert _qemu_pid(survivor.name) == survivor_qemu  # never restarted, never twice
    finally:
        mon.stop()
        for s in (survivor, victim):
            try:
                d.destroy(s.name)
            except Exception:  # noqa: BLE001
                pass
        ex.close()
        d.close()
        if started is not None:  # stop what this test started, by its pid
            os.kill(started.pid, signal.SIGTERM)
            try:
                started.wait(30)
            except subprocess.TimeoutExpired:
                os.kill(started.pid, signal.SIGKILL)
                started.wait(10)
