"""Domain XML generated from a VM spec: vCPUs, memory, CPU model, a disk, a NIC.

Every domain carries a ``<galerna:vm>`` metadata element with its lease, so
reconciliation can tell Galerna's VMs from anything else on a host.
"""
from __future__ import annotations

from xml.etree import ElementTree as ET

from galerna.enact.cpu_model import CPUModel
from galerna.enact.driver import VMSpec

NS = "https://galerna.dev/xmlns/vm/1"
ET.register_namespace("galerna", NS)


def domain_xml(
    spec: VMSpec,
    *,
    domain_type: str = "qemu",
    arch: str = "x86_64",
    machine: str | None = "pc",
    cpu: CPUModel | None = None,
    disk_path: str | None = None,
    disk_format: str = "qcow2",
    disk_type: str = "file",
    nic: str | None = None,
) -> str:
    """The libvirt domain XML for ``spec``.

    ``nic`` is ``None`` (no NIC), ``"user"`` (QEMU user networking), a
    network name (``default``), or ``bridge:<name>``. ``cpu`` is the already
    resolved CPU model (see :func:`galerna.enact.cpu_model.resolve_cpu`).
    """
    dom = ET.Element("domain", type=domain_type)
    ET.SubElement(dom, "name").text = spec.name
    meta = ET.SubElement(dom, "metadata")
    vm = ET.SubElement(meta, f"{{{NS}}}vm", lease=str(spec.lease_id or ""), index=str(spec.index))
    if spec.tenant:
        vm.set("tenant", spec.tenant)
    ET.SubElement(dom, "memory", unit="MiB").text = str(int(spec.memory_mb))
    ET.SubElement(dom, "vcpu").text = str(int(spec.vcpus))
    os_ = ET.SubElement(dom, "os")
    t = ET.SubElement(os_, "type", arch=arch)
    if machine:
        t.set("machine", machine)
    t.text = "hvm"
    if disk_path:
        ET.SubElement(os_, "boot", dev="hd")
    if cpu is not None:
        dom.append(cpu.element())
    ET.SubElement(dom, "on_poweroff").text = "destroy"
    ET.SubElement(dom, "on_reboot").text = "restart"
    ET.SubElement(dom, "on_crash").text = "destroy"
    dev = ET.SubElement(dom, "devices")
    if disk_path:
        disk = ET.SubElement(dev, "disk", type=disk_type, device="disk")
        ET.SubElement(disk, "driver", name="qemu", type=disk_format)
        ET.SubElement(disk, "source", {"file" if disk_type == "file" else "dev": disk_path})
        ET.SubElement(disk, "target", dev="vda", bus="virtio")
    if nic:
        if nic == "user":
            iface = ET.SubElement(dev, "interface", type="user")
        elif nic.startswith("bridge:"):
            iface = ET.SubElement(dev, "interface", type="bridge")
            ET.SubElement(iface, "source", bridge=nic.split(":", 1)[1])
        else:
            iface = ET.SubElement(dev, "interface", type="network")
            ET.SubElement(iface, "source", network=nic)
        ET.SubElement(iface, "model", type="virtio")
    if domain_type in ("qemu", "kvm"):
        video = ET.SubElement(dev, "video")
        ET.SubElement(video, "model", type="none")
        ET.SubElement(dev, "memballoon", model="none")
    return ET.tostring(dom, encoding="unicode")


def parse_metadata(xml: str) -> dict[str, str] | None:
    """Galerna's metadata of a domain (``lease``, ``index``, ``tenant``), or None if it is not ours."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return None
    el = root.find(f"metadata/{{{NS}}}vm")
    return dict(el.attrib) if el is not None else None
