"""The XML documents oned serves, built from the model in the element order of OpenNebula's XSDs.

`vm_full` is `VirtualMachine::to_xml_extended` (one.vm.info, one.vmpool.infoextended, hook payloads), `vm_short` is
`to_xml_short` (one.vmpool.info: TEMPLATE cut to CPU/MEMORY/VCPU/DISK/NIC/GRAPHICS, USER_TEMPLATE to the scheduler's
attributes, only the last history record). Template values are CDATA, as oned writes them.
"""
from __future__ import annotations

from xml.sax.saxutils import escape

from .actions import TEMPLATE_ATTRIBUTES
from .model import Datastore, History, Host, Model, Vm
from .templates import Template, Value

# `VirtualMachineTemplate::to_xml_short` keeps these in USER_TEMPLATE.
SHORT_USER_TEMPLATE = ("LABELS", "ERROR", "SCHED_MESSAGE", "SCHED_RANK", "SCHED_DS_RANK", "SCHED_REQUIREMENTS",
                       "SCHED_DS_REQUIREMENTS", "USER_PRIORITY", "SCHED_ACTION")
SHORT_TEMPLATE = ("CPU", "MEMORY", "VCPU", "DISK", "NIC", "GRAPHICS")

PERMISSIONS_VM = "<PERMISSIONS>" + "".join(
    f"<{k}>{v}</{k}>" for k, v in (("OWNER_U", 1), ("OWNER_M", 1), ("OWNER_A", 0), ("GROUP_U", 0), ("GROUP_M", 0),
                                   ("GROUP_A", 0), ("OTHER_U", 0), ("OTHER_M", 0), ("OTHER_A", 0))) + "</PERMISSIONS>"
PERMISSIONS_DS = PERMISSIONS_VM.replace("<GROUP_U>0</GROUP_U>", "<GROUP_U>1</GROUP_U>")


def cdata(text: str) -> str:
    return "<![CDATA[" + str(text).replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _el(tag: str, value: object) -> str:
    return f"<{tag}>{escape(str(value))}</{tag}>"


def _attr(name: str, value: Value) -> str:
    if isinstance(value, dict):
        inner = "".join(f"<{k}>{cdata(v)}</{k}>" for k, v in sorted(value.items()))
        return f"<{name}>{inner}</{name}>"
    return f"<{name}>{cdata(value)}</{name}>"


def template_xml(tag: str, template: Template, order: tuple[str, ...] | None = None) -> str:
    """A template as XML: in `order` (an XSD sequence) when given, else by name as oned's multimap sorts it."""
    if order is None:
        names = sorted(dict.fromkeys(template.names()))
    else:
        names = [name for name in order if name in template]
    body = "".join(_attr(name, value) for name in names for value in template.get_all(name))
    return f"<{tag}>{body}</{tag}>" if body else f"<{tag}/>"


def _ids(tag: str, ids: list[int]) -> str:
    return f"<{tag}>" + "".join(f"<ID>{i}</ID>" for i in ids) + f"</{tag}>" if ids else f"<{tag}/>"


def _history_full(vm: Vm, h: History) -> str:
    return ("<HISTORY>" + "".join(_el(k, v) for k, v in (
        ("OID", vm.id), ("SEQ", h.seq), ("HOSTNAME", h.hostname), ("HID", h.hid), ("CID", h.cid),
        ("STIME", h.stime), ("ETIME", h.etime), ("VM_MAD", h.vm_mad), ("TM_MAD", h.tm_mad), ("DS_ID", h.ds_id),
        ("PLAN_ID", h.plan_id), ("ACTION_ID", h.action_id), ("PSTIME", h.pstime), ("PETIME", h.petime),
        ("RSTIME", h.rstime), ("RETIME", h.retime), ("ESTIME", h.estime), ("EETIME", h.eetime),
        ("ACTION", h.action), ("UID", vm.uid), ("GID", vm.gid), ("REQUEST_ID", "-1"))) + "</HISTORY>")


def _history_short(vm: Vm, h: History) -> str:
    return ("<HISTORY>" + "".join(_el(k, v) for k, v in (
        ("OID", vm.id), ("SEQ", h.seq), ("HOSTNAME", h.hostname), ("HID", h.hid), ("CID", h.cid),
        ("DS_ID", h.ds_id), ("VM_MAD", h.vm_mad), ("TM_MAD", h.tm_mad), ("ACTION", h.action))) + "</HISTORY>")


def _vm_head(vm: Vm) -> str:
    return "".join(_el(k, v) for k, v in (("ID", vm.id), ("UID", vm.uid), ("GID", vm.gid), ("UNAME", vm.uname),
                                          ("GNAME", vm.gname), ("NAME", vm.name)))


def vm_full(vm: Vm) -> str:
    """`<VM>` as one.vm.info returns it (vm.xsd)."""
    history = "".join(_history_full(vm, h) for h in vm.history)
    return ("<VM>" + _vm_head(vm) + PERMISSIONS_VM
            + "".join(_el(k, v) for k, v in (
                ("LAST_POLL", 0), ("STATE", vm.state), ("LCM_STATE", vm.lcm_state), ("PREV_STATE", vm.prev_state),
                ("PREV_LCM_STATE", vm.prev_lcm_state), ("RESCHED", vm.resched), ("STIME", vm.stime),
                ("ETIME", vm.etime), ("DEPLOY_ID", vm.deploy_id)))
            + "<MONITORING/><SCHED_ACTIONS/>"
            + template_xml("TEMPLATE", vm.template, TEMPLATE_ATTRIBUTES)
            + template_xml("USER_TEMPLATE", vm.user_template)
            + (f"<HISTORY_RECORDS>{history}</HISTORY_RECORDS>" if history else "<HISTORY_RECORDS/>")
            + "<BACKUPS><BACKUP_CONFIG/><BACKUP_IDS/></BACKUPS></VM>")


def vm_short(vm: Vm) -> str:
    """`<VM>` as an element of one.vmpool.info's short pool (vm_pool.xsd)."""
    user = Template([(k, v) for k, v in vm.user_template.attrs if k in SHORT_USER_TEMPLATE])
    last = vm.last_history
    return ("<VM>" + _vm_head(vm)
            + "".join(_el(k, v) for k, v in (
                ("LAST_POLL", 0), ("STATE", vm.state), ("LCM_STATE", vm.lcm_state), ("RESCHED", vm.resched),
                ("STIME", vm.stime), ("ETIME", vm.etime), ("DEPLOY_ID", vm.deploy_id)))
            + template_xml("TEMPLATE", vm.template, SHORT_TEMPLATE)
            + "<MONITORING/>"
            + template_xml("USER_TEMPLATE", user)
            + (f"<HISTORY_RECORDS>{_history_short(vm, last)}</HISTORY_RECORDS>" if last else "<HISTORY_RECORDS/>")
            + "</VM>")


def vm_pool(vms: list[Vm], extended: bool) -> str:
    body = "".join((vm_full if extended else vm_short)(vm) for vm in vms)
    return f"<VM_POOL>{body}</VM_POOL>" if body else "<VM_POOL/>"


def host_xml(host: Host, model: Model, now: int) -> str:
    """`<HOST>` (host.xsd) with HOST_SHARE in oned's units and MONITORING/CAPACITY derived from it."""
    system_ds = [ds for ds in model.datastores.values() if ds.type == 1]
    ds_entries = "".join(f"<DS><FREE_MB>{ds.free_mb}</FREE_MB><ID>{ds.id}</ID><TOTAL_MB>{ds.total_mb}</TOTAL_MB>"
                         f"<USED_MB>{ds.used_mb}</USED_MB></DS>" for ds in system_ds)
    share = ("<HOST_SHARE>" + "".join(_el(k, v) for k, v in (
        ("MEM_USAGE", host.mem_usage), ("CPU_USAGE", host.cpu_usage), ("TOTAL_MEM", host.max_mem),
        ("TOTAL_CPU", host.max_cpu), ("MAX_MEM", host.max_mem), ("MAX_CPU", host.max_cpu),
        ("RUNNING_VMS", host.running_vms), ("VMS_THREAD", 1)))
        + f"<DATASTORES><DISK_USAGE>0</DISK_USAGE>{ds_entries}<FREE_DISK>0</FREE_DISK><MAX_DISK>0</MAX_DISK>"
          "<USED_DISK>0</USED_DISK></DATASTORES><PCI_DEVICES/><NUMA_NODES/></HOST_SHARE>")
    monitoring = (f"<MONITORING><TIMESTAMP>{now}</TIMESTAMP><ID>{host.id}</ID><CAPACITY>"
                  f"<FREE_CPU>{host.max_cpu - host.cpu_usage}</FREE_CPU>"
                  f"<FREE_MEMORY>{host.max_mem - host.mem_usage}</FREE_MEMORY>"
                  f"<USED_CPU>{host.cpu_usage}</USED_CPU><USED_MEMORY>{host.mem_usage}</USED_MEMORY>"
                  "</CAPACITY></MONITORING>")
    return ("<HOST>" + "".join(_el(k, v) for k, v in (
        ("ID", host.id), ("NAME", host.name), ("STATE", host.state), ("PREV_STATE", host.prev_state),
        ("IM_MAD", host.im_mad), ("VM_MAD", host.vm_mad), ("CLUSTER_ID", host.cluster_id),
        ("CLUSTER", host.cluster)))
        + share + _ids("VMS", sorted(host.vm_ids)) + template_xml("TEMPLATE", host.template) + monitoring
        + "</HOST>")


def host_pool(model: Model, hosts: list[Host] | None = None) -> str:
    hosts = list(model.hosts.values()) if hosts is None else hosts
    body = "".join(host_xml(h, model, model.now()) for h in hosts)
    return f"<HOST_POOL>{body}</HOST_POOL>" if body else "<HOST_POOL/>"


def datastore_xml(ds: Datastore) -> str:
    template = Template([("DS_MAD", ds.ds_mad), ("TM_MAD", ds.tm_mad),
                         ("TYPE", {0: "IMAGE_DS", 1: "SYSTEM_DS", 2: "FILE_DS"}[ds.type])])
    return ("<DATASTORE>" + "".join(_el(k, v) for k, v in (
        ("ID", ds.id), ("UID", 0), ("GID", 0), ("UNAME", "oneadmin"), ("GNAME", "oneadmin"), ("NAME", ds.name)))
        + PERMISSIONS_DS
        + "".join(_el(k, v) for k, v in (
            ("DS_MAD", ds.ds_mad), ("TM_MAD", ds.tm_mad), ("BASE_PATH", f"/var/lib/one//datastores/{ds.id}"),
            ("TYPE", ds.type), ("DISK_TYPE", 0), ("STATE", 0)))
        + _ids("CLUSTERS", ds.cluster_ids)
        + "".join(_el(k, v) for k, v in (("TOTAL_MB", ds.total_mb), ("FREE_MB", ds.free_mb),
                                         ("USED_MB", ds.used_mb)))
        + "<IMAGES/>" + template_xml("TEMPLATE", template) + "</DATASTORE>")


def datastore_pool(model: Model) -> str:
    body = "".join(datastore_xml(ds) for ds in model.datastores.values())
    return f"<DATASTORE_POOL>{body}</DATASTORE_POOL>" if body else "<DATASTORE_POOL/>"


def cluster_pool(model: Model, only: list[int] | None = None) -> str:
    body = ""
    for cid, name in model.clusters.items():
        if only is not None and cid not in only:
            continue
        hosts = sorted(h.id for h in model.hosts.values() if h.cluster_id == cid)
        stores = sorted(ds.id for ds in model.datastores.values() if cid in ds.cluster_ids)
        body += (f"<CLUSTER><ID>{cid}</ID><NAME>{escape(name)}</NAME>" + _ids("HOSTS", hosts)
                 + _ids("DATASTORES", stores) + "<VNETS/>"
                 + template_xml("TEMPLATE", Template([("RESERVED_CPU", ""), ("RESERVED_MEM", "")]))
                 + "</CLUSTER>")
    return f"<CLUSTER_POOL>{body}</CLUSTER_POOL>" if body else "<CLUSTER_POOL/>"


def vm_template_xml(vmt, now: int) -> str:
    """`<VMTEMPLATE>` (vmtemplate.xsd) for one.template.info."""
    return ("<VMTEMPLATE>" + "".join(_el(k, v) for k, v in (
        ("ID", vmt.id), ("UID", vmt.uid), ("GID", vmt.gid), ("UNAME", "oneadmin"), ("GNAME", "oneadmin"),
        ("NAME", vmt.name))) + PERMISSIONS_VM + f"<REGTIME>{vmt.regtime}</REGTIME>"
        + template_xml("TEMPLATE", vmt.template) + "</VMTEMPLATE>")
