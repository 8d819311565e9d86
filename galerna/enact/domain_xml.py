"""Domain XML generated from a VM spec: vCPUs, memory, CPU model, a disk, a NIC.

Every domain carries a ``<galerna:vm>`` metadata element with its lease and
the deployment (database) that made it, so reconciliation can tell Galerna's
VMs from anything else on a host, and this deployment's from another's.
"""
from __future__ import annotations

from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

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
    # Built as text: ElementTree's serialiser cost about 0.1 ms of GIL-bound CPU per deploy,
    # a fifth of a test-driver deploy (see benchmarks/gate_throughput.py).
    tenant = f" tenant={quoteattr(spec.tenant)}" if spec.tenant else ""
    tenant += f" deployment={quoteattr(spec.deployment)}" if spec.deployment else ""
    out = [
        f"<domain type={quoteattr(domain_type)}><name>{escape(spec.name)}</name>",
        f"<metadata><galerna:vm xmlns:galerna={quoteattr(NS)} lease={quoteattr(str(spec.lease_id or ''))}"
        f" index={quoteattr(str(spec.index))}{tenant} /></metadata>",
        f"<memory unit=\"MiB\">{int(spec.memory_mb)}</memory><vcpu>{int(spec.vcpus)}</vcpu>",
        f"<os><type arch={quoteattr(arch)}" + (f" machine={quoteattr(machine)}" if machine else "") + ">hvm</type>",
        "<boot dev=\"hd\" /></os>" if disk_path else "</os>",
    ]
    if cpu is not None:
        out.append(cpu.to_xml())
    out.append("<on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot><on_crash>destroy</on_crash><devices>")
    if disk_path:
        src = "file" if disk_type == "file" else "dev"
        out.append(f"<disk type={quoteattr(disk_type)} device=\"disk\"><driver name=\"qemu\" type={quoteattr(disk_format)} />"
                   f"<source {src}={quoteattr(disk_path)} /><target dev=\"vda\" bus=\"virtio\" /></disk>")
    if nic:
        if nic == "user":
            out.append("<interface type=\"user\">")
        elif nic.startswith("bridge:"):
            out.append(f"<interface type=\"bridge\"><source bridge={quoteattr(nic.split(':', 1)[1])} />")
        else:
            out.append(f"<interface type=\"network\"><source network={quoteattr(nic)} />")
        out.append("<model type=\"virtio\" /></interface>")
    if domain_type in ("qemu", "kvm"):
        out.append("<video><model type=\"none\" /></video><memballoon model=\"none\" />")
    out.append("</devices></domain>")
    return "".join(out)


def parse_metadata(xml: str) -> dict[str, str] | None:
    """Galerna's metadata of a domain (``lease``, ``index``, ``tenant``, ``deployment``), or None if it is not ours."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return None
    el = root.find(f"metadata/{{{NS}}}vm")
    return dict(el.attrib) if el is not None else None
