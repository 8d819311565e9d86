"""Integration tests against a real libvirtd + QEMU (TCG domains of 48 MiB, no disk).

CI starts libvirtd with scripts/libvirtd_ci.sh (as root), and a second "peer" libvirtd
for live migration. Without a reachable libvirtd socket these tests skip. The outage test
kills the CI libvirtd and restarts it with the same command line (it writes the same pid
file, so `libvirtd_ci.sh stop` stops it); if it does not come back, the test stops what it
started, by pid.

The tests share that libvirtd across xdist workers, so each holds a shared lock on a
lock file and the outage test an exclusive one: no test runs while libvirtd is down,
however the tests are distributed. (The xdist_group mark alone does not do it: another
pytest run on the same machine shares the CI libvirtd too.)
"""
from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import tempfile
from pathlib import Path
from xml.etree import ElementTree

import libvirt
import pytest
from helpers import poll

from galerna.enact.config import EnactmentConfig, GateConfig, RecoveryConfig, RecoveryMode, RetryConfig
from galerna.enact.driver import HostState, OperationKind as Op, VMSpec, VMState, local_move
from galerna.enact.executor import Action, Executor
from galerna.enact.faults import FaultyDriver
from galerna.enact.gate import PoolKind
from galerna.enact.libvirt import LibvirtDriver, init_libvirt
from galerna.enact.monitor import Monitor
from galerna.enact.recovery import RecoveryManager, Step

# One xdist worker runs them all, in order, so the outage test (last) cannot pull libvirtd
# from under another worker.
pytestmark = [pytest.mark.libvirtd, pytest.mark.xdist_group("libvirtd")]

SOCKET = "/run/libvirt/libvirt-sock"
WORK = Path(os.environ.get("LIBVIRT_CI_WORK", "/tmp/libvirt_ci"))
URIS = ["qemu:///system", "qemu+tcp://127.0.0.1/system"]
# a second hypervisor on this machine (scripts/libvirtd_ci.sh starts it in its own mount namespace)
PEER_URI = os.environ.get("LIBVIRT_CI_PEER_URI", "qemu+tcp://127.0.0.1:16510/system")


LOCK = Path(tempfile.gettempdir()) / "galerna-libvirtd-tests.lock"


@pytest.fixture(autouse=True)
def libvirtd_lock(request):
    """Shared for every test here, exclusive for the one that kills libvirtd."""
    exclusive = request.node.get_closest_marker("libvirtd_outage") is not None
    with open(LOCK, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield


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


def _host_uuid(d: LibvirtDriver) -> str | None:
    return ElementTree.fromstring(d.connection.getCapabilities()).findtext("host/uuid")


def test_live_migration_between_two_libvirtds(tmp_path, cleanup):
    src_uri = URIS[1]
    need(src_uri)
    need(PEER_URI)
    src = FaultyDriver(LibvirtDriver(src_uri, tmp_path / "src"))
    dst = FaultyDriver(LibvirtDriver(PEER_URI, tmp_path / "dst"))
    if _host_uuid(src.inner) == _host_uuid(dst.inner):
        pytest.skip(f"{PEER_URI} reports the same host UUID as {src_uri}: not a second hypervisor")
    assert src.can_migrate_live(dst)
    cfg = EnactmentConfig(data_dir=str(tmp_path), retry=RetryConfig(attempts=1), workers=4)
    ex = Executor({src_uri: src, PEER_URI: dst}, config=cfg)
    s = spec("migrant")
    cleanup.extend([(src.inner, s.name), (dst.inner, s.name)])
    [r] = ex.run_plan([Action.deploy(s, src_uri)], timeout=120)
    assert r.ok, r.error
    before = src.inner.connection.lookupByName(s.name)
    uuid, qemu_pid = before.UUIDString(), _qemu_pid(s.name)
    assert dst.inspect(s.name).state is VMState.ABSENT

    [r] = ex.run_plan([Action(Op.MIGRATE, s.name, src_uri, dest=PEER_URI)], timeout=300)
    assert r.ok, r.error
    assert r.info is not None and r.info.host == PEER_URI and r.info.state is VMState.RUNNING
    # it runs on the destination, the same domain, and is gone from the source (definition included)
    there = dst.inner.connection.lookupByName(s.name)
    assert there.isActive() and there.isPersistent() and there.UUIDString() == uuid
    assert there.state()[0] == libvirt.VIR_DOMAIN_RUNNING
    assert src.inspect(s.name).state is VMState.ABSENT
    assert s.name not in [d.name() for d in src.inner.connection.listAllDomains(0)]
    assert not _alive(qemu_pid)  # the source's QEMU process ended
    # live: a migration job copied memory; no state file was written, nothing was suspended or restored
    stats = there.jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
    assert stats.get("memory_total", 0) > 0, stats
    assert (Op.SUSPEND, s.name) not in src.calls and (Op.RESUME, s.name) not in dst.calls
    assert not list(tmp_path.rglob("*.save"))
    assert ex.inventory.get(s.name).host == PEER_URI

    [r] = ex.run_plan([Action(Op.DESTROY, s.name, PEER_URI)], timeout=120)
    assert r.ok and dst.inspect(s.name).state is VMState.ABSENT
    ex.close()
    src.close()
    dst.close()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


_wait = poll


def _qemu_pid(vm: str) -> int:
    return int(Path(f"/run/libvirt/qemu/{vm}.pid").read_text().strip())


def test_reconcile_of_another_deployment_destroys_nothing_on_real_qemu(tmp_path, cleanup):
    """A daemon on a new database (its own deployment id) finds a stamped VM on the real libvirtd: reported foreign,
    left running; the deployment that made it still cleans it up as its own orphan."""
    import uuid

    from galerna.enact.reconcile import Verdict, reconcile

    need(URIS[0])
    uri = URIS[0]
    d = LibvirtDriver(uri, tmp_path / "state")
    theirs, mine = uuid.uuid4().hex, uuid.uuid4().hex
    s = VMSpec(name("foreign"), vcpus=1, memory_mb=48, lease_id="it-foreign", deployment=theirs)
    cleanup.append((d, s.name))
    assert d.deploy(s).state is VMState.RUNNING
    assert d.inspect(s.name).deployment == theirs  # the stamp survives libvirtd's own XML
    cfg = EnactmentConfig(data_dir=str(tmp_path), retry=RetryConfig(attempts=2, backoff_initial=0.01))
    for deployment, verdict, state in ((mine, Verdict.FOREIGN, VMState.RUNNING),
                                       (theirs, Verdict.CLEANUP_ORPHAN, VMState.ABSENT)):
        ex = Executor({uri: d}, config=cfg)
        ex.deployment = deployment
        entries = [e for e in reconcile([], ex, timeout=120, deployment=deployment) if e.vm == s.name]
        assert [e.verdict for e in entries] == [verdict]
        assert d.inspect(s.name).state is state
        ex.close(wait=True)
    d.close()


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

        log = open(WORK / "libvirtd.out", "a")
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
        came_back = started is not None and reachable(uri) is None and pid_file.exists() \
            and pid_file.read_text().strip() == str(started.pid)
        if started is not None and not came_back:  # stop what this test started, by its pid
            os.kill(started.pid, signal.SIGTERM)
            try:
                started.wait(30)
            except subprocess.TimeoutExpired:
                os.kill(started.pid, signal.SIGKILL)
                started.wait(10)
