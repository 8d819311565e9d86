"""Configuration, default test hosts, CPU models and domain XML."""
from __future__ import annotations

from xml.etree import ElementTree as ET

import pytest
from pydantic import ValidationError

from galerna.enact.config import EnactmentConfig, default_test_hosts, make_drivers
from galerna.enact.cpu_model import CPUMode, CPUModel, resolve_cpu
from galerna.enact.domain_xml import domain_xml, parse_metadata
from galerna.enact.driver import OperationKind, VMSpec, uri_scheme
from galerna.enact.libvirt import LibvirtDriver


def test_default_is_four_independent_test_hosts(tmp_path):
    cfg = EnactmentConfig(data_dir=str(tmp_path))
    drivers = make_drivers(cfg)
    assert len(drivers) == 4 and all(u.startswith("test:///") for u in drivers)
    infos = [d.host_info() for d in drivers.values()]
    assert {(i.cpus, i.memory_mb) for i in infos} == {(8, 16384)}
    assert default_test_hosts(4, tmp_path) == list(drivers)  # idempotent
    for d in drivers.values():
        d.close()


def test_node_file_declares_capacity(tmp_path):
    (uri,) = default_test_hosts(1, tmp_path, cpus=3, memory_mb=2048)
    d = LibvirtDriver(uri, tmp_path / "s")
    assert (d.host_info().cpus, d.host_info().memory_mb) == (3, 2048)
    d.close()


def test_config_from_toml_like_dict():
    cfg = EnactmentConfig.model_validate({
        "hosts": [{"uri": "qemu+tcp://n1/system", "cpu": {"mode": "custom", "model": "EPYC", "forbid": ["svm"]}}],
        "gate": {"per_host": 2, "overrides": {"test": 0, "qemu+tcp": 4}, "per_tenant": True,
                 "fast_state_changes": True, "global_cap": 16},
        "retry": {"attempts": 5, "timeouts": {"deploy": 10}},
        "recovery": {"mode": "reschedule", "grace_period": 120, "fencing_command": "ipmitool -H {host} power off"},
        "cpu": {"mode": "host-model"},
    })
    assert cfg.gate.overrides["qemu+tcp"] == 4 and cfg.retry.timeout(OperationKind.DEPLOY) == 10
    assert cfg.retry.timeout(OperationKind.SUSPEND) == 300
    assert cfg.hosts[0].cpu.model == "EPYC"
    with pytest.raises(ValidationError):
        EnactmentConfig.model_validate({"gate": {"per_host": -1}})
    with pytest.raises(ValidationError):
        EnactmentConfig.model_validate({"gate": {"overrides": {"test": -2}}})
    with pytest.raises(ValidationError):
        EnactmentConfig.model_validate({"gate": {"bogus": 1}})


def test_uri_scheme():
    assert [uri_scheme(u) for u in ("qemu:///system", "qemu+tcp://h/system", "qemu+ssh://u@h/system",
                                    "test:///tmp/n.xml")] == ["qemu", "qemu+tcp", "qemu+ssh", "test"]


def test_cpu_models():
    assert CPUModel.parse("host-passthrough").mode is CPUMode.HOST_PASSTHROUGH
    m = CPUModel.parse("Skylake-Server,+pcid,-hle")
    assert (m.mode, m.model, m.require, m.forbid) == (CPUMode.CUSTOM, "Skylake-Server", ("pcid",), ("hle",))
    el = ET.fromstring(m.to_xml())
    assert el.get("mode") == "custom" and el.find("model").text == "Skylake-Server"
    with pytest.raises(ValueError):
        CPUModel.parse("EPYC,+svm,-svm")
    with pytest.raises(ValueError):
        CPUModel.parse("EPYC,svm")
    with pytest.raises(ValidationError):
        CPUModel(mode=CPUMode.CUSTOM)
    vm, host, cluster = CPUModel.parse("EPYC"), CPUModel.parse("host-model"), CPUModel.parse("host-passthrough")
    assert resolve_cpu(vm, host, cluster) is vm
    assert resolve_cpu(None, host, cluster) is host
    assert resolve_cpu(None, None, cluster) is cluster
    assert resolve_cpu(None, None, None) is None


def test_host_and_cluster_cpu_reach_the_domain(tmp_path):
    (uri,) = default_test_hosts(1, tmp_path)
    d = LibvirtDriver(uri, tmp_path / "s", host_cpu=CPUModel.parse("host-model"),
                      cluster_cpu=CPUModel.parse("host-passthrough"))
    xml = d.xml_for(VMSpec("galerna-c-0"))
    assert ET.fromstring(xml).find("cpu").get("mode") == "host-model"
    d.host_cpu = None
    assert ET.fromstring(d.xml_for(VMSpec("galerna-c-0"))).find("cpu").get("mode") == "host-passthrough"
    d.close()


def test_domain_xml_for_qemu():
    s = VMSpec("galerna-q-0", vcpus=2, memory_mb=48, lease_id="q", tenant="vdc9")
    root = ET.fromstring(domain_xml(s, domain_type="qemu", nic="user", disk_path="/img/q.qcow2"))
    assert root.get("type") == "qemu" and root.findtext("memory") == "48"
    assert root.find("devices/interface").get("type") == "user"
    assert root.find("devices/disk/source").get("file") == "/img/q.qcow2"
    assert root.find("devices/video/model").get("type") == "none"
    assert parse_metadata(ET.tostring(root, encoding="unicode")) == {"lease": "q", "index": "0", "tenant": "vdc9"}
    assert parse_metadata("<domain><name>x</name></domain>") is None
