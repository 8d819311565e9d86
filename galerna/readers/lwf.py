"""Haizea's XML Lease Workload Format (LWF) and its annotation files (LWFA).

An LWF file is ``<lease-workload>`` with an optional ``<site>`` and a list of
``<lease-request arrival=…>``, each holding a ``<lease>`` and optionally its
``<realduration>``. The lease type follows Haizea's rule: an empty
``<start/>`` is best effort, ``<start><now/></start>`` immediate,
``<start><exact/></start>`` an advance reservation, or a deadline lease when a
``<deadline>`` is also given (the exact time is then its earliest start).

Units: a CPU amount of 100 is 1.0 core, Memory is MB, other resource types
keep their amount under a lowercased name (``Net-in`` → ``net-in``). A
multi-instance resource (``<res><instance amount/>…</res>``) counts as the
sum of its instances. Lease ids are the file's ``id`` attributes (position
in the file when absent); a repeated id is an error.

An annotation file (``<lease-annotations>``) changes leases of another file
by id: start (``+HH:MM:SS`` relative to the lease's arrival, ``<now/>`` or
empty), deadline (relative to arrival), software and extra attributes.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from galerna.model import DiskImage, Host, LeaseRequest, LeaseType, Site
from galerna.model.units import parse_duration, resource_amount, resource_name
from galerna.readers.common import frozen
from galerna.readers.errors import TraceError
from galerna.readers.workload import Tally, Workload
from galerna.readers.xmltree import Node, parse

_UNSET = object()


def read_lwf(path: Path, data: bytes) -> Workload:
    """Read an XML LWF file's lease requests and, when present, its site."""
    root = parse(path, data)
    if root.tag == "lease-annotations":
        raise TraceError(path, root.line, "this is an annotation file (LWFA); apply it to a workload with annotate()")
    if root.tag != "lease-workload":
        raise TraceError(path, root.line, f"expected <lease-workload>, found <{root.tag}>")
    tally = Tally()
    site_el = root.find("site")
    site = _site(path, site_el) if site_el is not None else None
    requests: list[LeaseRequest] = []
    seen: dict[str, int] = {}
    for pos, req in enumerate(root.findall("lease-requests/lease-request"), start=1):
        lease = req.find("lease")
        if lease is None:
            raise TraceError(path, req.line, "<lease-request> without a <lease>")
        lease_id = lease.get("id") or str(pos)
        if lease_id in seen:
            raise TraceError(path, lease.line, f"lease id {lease_id} already used at line {seen[lease_id]}")
        seen[lease_id] = lease.line
        request = _lease(path, req, lease, lease_id)
        if request.real_duration is not None and request.real_duration > request.duration:
            tally.flag("real duration above requested duration, cut to the requested duration", req.line)
            request = replace(request, real_duration=request.duration)
        requests.append(request)
    return Workload(requests, site, Path(path), dropped=tally.dropped(), warnings=tally.warnings())


def annotate(workload: Workload, path: Path, data: bytes) -> Workload:
    """Apply an LWFA annotation file to ``workload`` (leases matched by id)."""
    root = parse(path, data)
    if root.tag != "lease-annotations":
        raise TraceError(path, root.line, f"expected <lease-annotations>, found <{root.tag}>")
    notes = {}
    for el in root.findall("lease-annotation"):
        lease_id = el.get("id")
        if lease_id is None:
            raise TraceError(path, el.line, "<lease-annotation> without an id")
        notes[lease_id] = el
    by_id = {r.id: r for r in workload.requests}
    missing = sorted(set(notes) - set(by_id))
    out = []
    for r in workload.requests:
        el = notes.get(r.id)
        out.append(r if el is None else _apply(path, r, el))
    warnings = list(workload.warnings)
    if missing:
        warnings.append(f"{path}: annotations for unknown lease id(s) {', '.join(missing)} ignored")
    return Workload(out, workload.site, workload.source, dict(workload.dropped), warnings)


# ---------------------------------------------------------------- internals


def _time(path: Path, el: Node, attr: str = "time") -> float:
    text = el.get(attr)
    if text is None:
        raise TraceError(path, el.line, f"<{el.tag}> needs a {attr} attribute")
    try:
        return parse_duration(text)
    except ValueError as e:
        raise TraceError(path, el.line, f"<{el.tag} {attr}=…>: {e}") from None


def _number(path: Path, el: Node, attr: str) -> float:
    text = el.get(attr)
    try:
        return float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TraceError(path, el.line, f"<{el.tag}> needs a numeric {attr}, got {text!r}") from None


def _node_sets(path: Path, owner: Node, what: str) -> list[tuple[int, dict[str, float]]]:
    nodes = owner.find("nodes")
    if nodes is None:
        raise TraceError(path, owner.line, f"{what} without <nodes>")
    sets = []
    for ns in nodes.findall("node-set"):
        n = _number(path, ns, "numnodes")
        if n != int(n) or n < 0:
            raise TraceError(path, ns.line, f"numnodes must be a whole number, got {ns.get('numnodes')!r}")
        res: dict[str, float] = {}
        for r in ns.findall("res"):
            rtype = r.get("type")
            if not rtype:
                raise TraceError(path, r.line, "<res> needs a type")
            instances = r.findall("instance")
            amount = sum(_number(path, i, "amount") for i in instances) if instances else _number(path, r, "amount")
            name = resource_name(rtype)
            res[name] = res.get(name, 0.0) + resource_amount(name, amount)
        sets.append((int(n), res))
    if not sets:
        raise TraceError(path, nodes.line, f"{what}: <nodes> has no <node-set>")
    return sets


def _site(path: Path, el: Node) -> Site:
    names = (el.find("resource-types").get("names") or "").split() if el.find("resource-types") is not None else []
    declared = [resource_name(n) for n in names]
    hosts = []
    for n, res in _node_sets(path, el, "<site>"):
        undeclared = [k for k in res if declared and k not in declared]
        if undeclared:
            raise TraceError(path, el.line, f"<site> nodes use resource(s) {', '.join(undeclared)} not in <resource-types>")
        for _ in range(n):
            hosts.append(Host(f"node{len(hosts) + 1}", frozen(res)))
    if not hosts:
        raise TraceError(path, el.line, "<site> has no nodes")
    extra = [k for k in declared if k not in ("cpu", "memory")]
    return Site(hosts, extra)


def _software(path: Path, el: Node | None) -> DiskImage | None | object:
    """The lease's disk image, None for ``<none/>``, _UNSET when there is no <software>."""
    if el is None:
        return _UNSET
    img = el.find("disk-image")
    if img is not None:
        if not img.get("id"):
            raise TraceError(path, img.line, "<disk-image> needs an id")
        return DiskImage(img.get("id"), _number(path, img, "size"))
    return None


def _extra(el: Node | None) -> dict[str, str]:
    if el is None:
        return {}
    return {a.get("name"): a.get("value", "") for a in el.findall("attr") if a.get("name")}


def _lease(path: Path, req: Node, lease: Node, lease_id: str) -> LeaseRequest:
    submit = _time(path, req, "arrival")
    nodes: list = []
    for n, res in _node_sets(path, lease, f"lease {lease_id}"):
        one = frozen(res)
        nodes += [one] * n
    dur_el = lease.find("duration")
    if dur_el is None:
        raise TraceError(path, lease.line, f"lease {lease_id} has no <duration>")
    duration = _time(path, dur_el)
    real_el = req.find("realduration")
    if real_el is None:
        real_el = lease.find("realduration")
    real = _time(path, real_el) if real_el is not None else None
    deadline_el = lease.find("deadline")
    deadline = _time(path, deadline_el) if deadline_el is not None else None
    start_el = lease.find("start")
    kind, start = LeaseType.BE, None
    if start_el is not None and start_el.children:
        child = start_el.children[0]
        if child.tag == "now":
            kind = LeaseType.IM
        elif child.tag == "exact":
            start = _time(path, child)
            kind = LeaseType.DEADLINE if deadline is not None else LeaseType.AR
        else:
            raise TraceError(path, child.line, f"unknown start <{child.tag}> (expected <exact> or <now>)")
    if kind is not LeaseType.DEADLINE:
        deadline = None  # Haizea ignores a deadline without an exact earliest start
    preempt = (lease.get("preemptible") or "true").strip().lower()
    if preempt not in ("true", "false"):
        raise TraceError(path, lease.line, f"preemptible must be true or false, got {lease.get('preemptible')!r}")
    image = _software(path, lease.find("software"))
    try:
        return LeaseRequest(
            id=lease_id,
            type=kind,
            submit=submit,
            duration=duration,
            nodes=tuple(nodes),
            start=start,
            deadline=deadline,
            real_duration=real,
            preemptible=preempt == "true",
            image=None if image is _UNSET else image,  # type: ignore[arg-type]
            extra=_extra(lease.find("extra")),
        )
    except ValueError as e:
        raise TraceError(path, lease.line, str(e)) from None


def _apply(path: Path, r: LeaseRequest, el: Node) -> LeaseRequest:
    """One annotation on one lease, after Haizea's LeaseAnnotations.apply_to_leases."""
    kind, start, deadline = r.type, r.start, r.deadline
    start_el = el.find("start")
    if start_el is not None:
        if not start_el.children:
            kind, start = LeaseType.BE, None
        elif start_el.children[0].tag == "now":
            kind, start = LeaseType.IM, None
        elif start_el.children[0].tag == "exact":
            kind, start = LeaseType.AR, r.submit + _time(path, start_el.children[0])
        else:
            raise TraceError(path, start_el.children[0].line, f"unknown start <{start_el.children[0].tag}>")
    deadline_el = el.find("deadline")
    if deadline_el is not None:
        deadline = r.submit + _time(path, deadline_el)
    if kind in (LeaseType.AR, LeaseType.DEADLINE):
        kind = LeaseType.DEADLINE if deadline is not None else LeaseType.AR
    else:
        deadline = None
    image = _software(path, el.find("software"))
    extra = {**r.extra, **_extra(el.find("extra"))}
    try:
        return replace(
            r,
            type=kind,
            start=start,
            deadline=deadline,
            image=r.image if image is _UNSET else image,
            extra=extra,
        )
    except ValueError as e:
        raise TraceError(path, el.line, str(e)) from None
