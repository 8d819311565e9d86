"""The libvirt driver on libvirt's in-process test driver (no daemon needed)."""
from __future__ import annotations

import os
from xml.etree import ElementTree as ET

import libvirt
import pytest

from conftest import make_hosts
from helpers import poll
from galerna.enact.cpu_model import CPUModel
from galerna.enact.driver import HypervisorError, VMSpec, VMState, migrate, vm_name
from galerna.enact.libvirt import LibvirtDriver
from galerna.model.lease import DiskImage, LeaseRequest, LeaseType


def spec(name="galerna-l1-0", **kw) -> VMSpec:
    kw.setdefault("vcpus", 2)
    kw.setdefault("memory_mb", 128)
    kw.setdefault("lease_id", "l1")
    return VMSpec(name, **kw)


def first(hosts) -> LibvirtDriver:
    return next(iter(hosts.values()))


def test_each_node_file_is_an_independent_hypervisor(hosts):
    a, b = hosts.values()
    a.deploy(spec())
    assert a.inspect("galerna-l1-0").state is VMState.RUNNING
    assert b.inspect("galerna-l1-0").state is VMState.ABSENT
    assert [v.name for v in b.list()] == []
    info = a.host_info()
    assert (info.cpus, info.memory_mb) == (8, 16384)


def test_deploy_builds_domain_from_spec(hosts):
    d = first(hosts)
    cpu = CPUModel.parse("Haswell,+vmx,-avx")
    d.stage_image(DiskImage("base-img", 200))
    info = d.deploy(spec(image=DiskImage("base-img", 200), network="default", cpu=cpu))
    assert (info.state, info.vcpus, info.memory_mb, info.lease_id) == (VMState.RUNNING, 2, 128, "l1")
    root = ET.fromstring(d.connection.lookupByName("galerna-l1-0").XMLDesc(0))
    assert root.findtext("vcpu") == "2"
    assert int(root.findtext("memory")) == 128 * 1024
    assert root.find("cpu/model").text == "Haswell"
    feats = {f.get("name"): f.get("policy") for f in root.findall("cpu/feature")}
    assert feats == {"vmx": "require", "avx": "disable"}
    assert root.find("devices/interface/source").get("network") == "default"
    disk = root.find("devices/disk/source").get("file")
    assert disk.endswith("galerna-l1-0.qcow2")  # a copy-on-write overlay in the pool
    vol = d.connection.storagePoolLookupByName("galerna").storageVolLookupByName("galerna-l1-0.qcow2")
    backing = ET.fromstring(vol.XMLDesc(0)).findtext("backingStore/path")
    assert backing.endswith("/base-img")


def test_deploy_is_idempotent_and_never_starts_twice(hosts):
    d = first(hosts)
    one = d.deploy(spec())
    two = d.deploy(spec())
    assert one.uuid == two.uuid
    assert len([v for v in d.list() if v.name == "galerna-l1-0"]) == 1


def test_suspend_resume_through_state_file(hosts):
    d = first(hosts)
    d.deploy(spec())
    s = d.suspend("galerna-l1-0")
    assert s.state is VMState.SUSPENDED and os.path.exists(s.state_file)
    assert d.suspend("galerna-l1-0").state is VMState.SUSPENDED  # again: no-op
    r = d.resume("galerna-l1-0")
    assert r.state is VMState.RUNNING
    assert not os.path.exists(s.state_file)  # never restored twice
    assert d.resume("galerna-l1-0").state is VMState.RUNNING  # resuming a running VM is state, not a crash


def test_managed_save(tmp_path):
    d = make_hosts(tmp_path, 1)
    drv = next(iter(d.values()))
    drv.managed_save = True
    drv.deploy(spec())
    s = drv.suspend("galerna-l1-0")
    assert s.state is VMState.SUSPENDED and s.state_file is None
    assert drv.connection.lookupByName("galerna-l1-0").hasManagedSaveImage(0)
    assert drv.resume("galerna-l1-0").state is VMState.RUNNING


def test_operations_on_missing_vm_are_state(hosts):
    d = first(hosts)
    assert d.inspect("galerna-nope-0").state is VMState.ABSENT
    assert d.destroy("galerna-nope-0").state is VMState.ABSENT
    assert d.shutdown("galerna-nope-0", timeout=0.1).state is VMState.ABSENT
    with pytest.raises(HypervisorError) as e:
        d.resume("galerna-nope-0")
    assert not e.value.transient
    with pytest.raises(HypervisorError):
        d.suspend("galerna-nope-0")


def test_pause_unpause_reboot_reset(hosts):
    d = first(hosts)
    d.deploy(spec())
    assert d.pause("galerna-l1-0").state is VMState.PAUSED
    assert d.pause("galerna-l1-0").state is VMState.PAUSED
    assert d.reset("galerna-l1-0").state is VMState.PAUSED
    assert d.unpause("galerna-l1-0").state is VMState.RUNNING
    assert d.reboot("galerna-l1-0").state is VMState.RUNNING
    with pytest.raises(HypervisorError):
        d.unpause("galerna-other-0")


def test_shutdown_and_destroy_remove_everything(hosts):
    d = first(hosts)
    img = DiskImage("base", 100)
    d.stage_image(img)
    d.deploy(spec(image=img))
    d.deploy(spec("galerna-l2-0", image=img))
    assert d.shutdown("galerna-l1-0", timeout=0.5).state is VMState.ABSENT
    d.suspend("galerna-l2-0")
    assert d.destroy("galerna-l2-0").state is VMState.ABSENT
    assert d.list() == []
    pool = d.connection.storagePoolLookupByName("galerna")
    assert sorted(pool.listVolumes()) == ["base"]  # overlays deleted, base image kept
    assert not list(d.state_dir.glob("*.save"))


def test_cold_migration_moves_state_file(hosts):
    a, b = hosts.values()
    a.deploy(spec())
    info = migrate(a, b, "galerna-l1-0")
    assert info.state is VMState.RUNNING and info.host == b.uri
    assert a.inspect("galerna-l1-0").state is VMState.ABSENT
    assert b.inspect("galerna-l1-0").vcpus == 2
    # again: already there, nothing runs twice
    assert migrate(a, b, "galerna-l1-0").host == b.uri
    assert not a.can_migrate_live(b)


def test_migration_of_suspended_vm_resumes_at_destination(hosts):
    a, b = hosts.values()
    a.deploy(spec())
    a.suspend("galerna-l1-0")
    assert migrate(a, b, "galerna-l1-0", live=False).state is VMState.RUNNING
    assert [v.name for v in a.list()] == []


def test_errors_carry_hypervisor_message(hosts):
    d = first(hosts)
    d.domain_type = "no-such-type"
    with pytest.raises(HypervisorError) as e:
        d.deploy(spec())
    assert e.value.hypervisor_message
    assert e.value.code is not None
    assert not e.value.transient


def test_foreign_domains_are_not_managed(hosts):
    d = first(hosts)
    d.connection.createXML("<domain type='test'><name>someone-else</name><memory>65536</memory>"
                           "<os><type>hvm</type></os></domain>", 0)
    d.deploy(spec())
    by_name = {v.name: v for v in d.list()}
    assert by_name["galerna-l1-0"].managed and by_name["galerna-l1-0"].lease_id == "l1"
    assert not by_name["someone-else"].managed


def test_spec_from_lease():
    lease = LeaseRequest("ar/7", LeaseType.AR, 0, 60, ({"cpu": 2, "memory": 512}, {"cpu": 1, "memory": 256}), start=10,
                         image=DiskImage("debian", 1000), tenant="vdc1", extra={"cpu_model": "host-passthrough"})
    s = VMSpec.from_lease(lease, 1)
    assert s.name == vm_name("ar/7", 1) == "galerna-ar_7-1"
    assert (s.vcpus, s.memory_mb, s.tenant, s.image.id) == (1, 256, "vdc1", "debian")
    assert s.cpu.mode.value == "host-passthrough"


def test_lifecycle_events_reach_listeners(hosts):
    import time

    d = first(hosts)
    got = []
    d.add_lifecycle_listener(lambda drv, name, ev, det: got.append((name, ev)))
    d.deploy(spec())
    d.destroy("galerna-l1-0")
    end = time.monotonic() + 5
    while time.monotonic() < end and (("galerna-l1-0", libvirt.VIR_DOMAIN_EVENT_STOPPED) not in got):
        time.sleep(0.02)
    assert ("galerna-l1-0", libvirt.VIR_DOMAIN_EVENT_STARTED) in got
    assert ("galerna-l1-0", libvirt.VIR_DOMAIN_EVENT_STOPPED) in got


def test_live_migration_data_goes_to_the_destination_uris_host():
    assert LibvirtDriver("qemu+tcp://127.0.0.1:16510/system").migration_uri() == "tcp://127.0.0.1"
    assert LibvirtDriver("qemu+ssh://root@node7/system").migration_uri() == "tcp://node7"
    assert LibvirtDriver("qemu+tcp://[fd00::7]/system").migration_uri() == "tcp://[fd00::7]"
    assert LibvirtDriver("qemu+tcp://node7/system", migration_host="10.1.0.7").migration_uri() == "tcp://10.1.0.7"
    assert LibvirtDriver("qemu:///system").migration_uri() is None  # libvirt falls back to the hostname


def test_lifecycle_listener_added_after_the_connection_opened_still_hears_events(hosts):
    d = first(hosts)
    d.deploy(spec())  # connection open, nobody listening yet: no events asked for
    got = []
    d.add_lifecycle_listener(lambda drv, name, ev, det: got.append((name, ev)))
    d.destroy("galerna-l1-0")
    assert poll(lambda: ("galerna-l1-0", libvirt.VIR_DOMAIN_EVENT_STOPPED) in got, 5)
