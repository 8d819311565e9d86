"""Haizea's old whitespace LWF, used by the Blue Horizon injection files.

One lease per line: ``submit start duration realduration nodes cpu memory
disk image imagesize`` (seconds; cpu 1 = one core; memory and disk in MB;
image quoted, ``'NONE.img'`` = no image). ``start`` = -1 makes a
best-effort, preemptible lease; otherwise an advance reservation that cannot
be preempted — both as in Haizea's reader. Ids are ``inj-1``, ``inj-2``… in
file order, because these files are merged into traces whose ids are numbers.
A non-zero ``disk`` becomes a ``disk`` resource; zero adds none (so the site
need not declare disk).

A few shared injection files have leases submitted before the trace starts
(negative submit): their submit time becomes 0. An AR whose start precedes
its submit time is kept, and counted in the warnings: the scheduler rejects
it. Both are counted in the workload's warnings.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from galerna.model import LeaseRequest, LeaseType
from galerna.readers.common import data_lines, gang, image_from
from galerna.readers.errors import TraceError
from galerna.readers.workload import Tally, Workload

FIELDS = ("submit", "start", "duration", "realduration", "nodes", "cpu", "memory", "disk", "image", "imagesize")
ID_PREFIX = "inj-"


def read_lwf_whitespace(path: Path, lines: Iterable[str]) -> Workload:
    tally = Tally()
    requests: list[LeaseRequest] = []
    for lineno, text in data_lines(lines):
        fields = text.split()
        if len(fields) != len(FIELDS):
            raise TraceError(
                path, lineno, f"expected {len(FIELDS)} fields ({' '.join(FIELDS)}), found {len(fields)}"
            )
        values = {}
        for name, value in zip(FIELDS, fields):
            if name == "image":
                continue
            try:
                values[name] = float(value)
            except ValueError:
                raise TraceError(path, lineno, f"{name} is not a number: {value!r}") from None
        n = values["nodes"]
        if n <= 0 or n != int(n):
            tally.drop("node count not a positive whole number", lineno)
            continue
        if values["duration"] <= 0:
            tally.drop("duration not positive", lineno)
            continue
        real = values["realduration"] if values["realduration"] > 0 else values["duration"]
        if real > values["duration"]:
            tally.flag("real duration above duration, cut to the duration", lineno)
            real = values["duration"]
        resources = {"cpu": values["cpu"], "memory": values["memory"]}
        if values["disk"] > 0:
            resources["disk"] = values["disk"]
        best_effort = values["start"] == -1
        if values["submit"] < 0:
            tally.flag("submitted before the trace starts, submit time moved to 0", lineno)
            values["submit"] = 0.0
        if not best_effort and values["start"] < values["submit"]:
            tally.flag("advance reservation starts before it is submitted (it will be rejected)", lineno)
        try:
            requests.append(
                LeaseRequest(
                    id=f"{ID_PREFIX}{len(requests) + 1}",
                    type=LeaseType.BE if best_effort else LeaseType.AR,
                    submit=values["submit"],
                    duration=values["duration"],
                    nodes=gang(int(n), resources),
                    start=None if best_effort else values["start"],
                    real_duration=real,
                    preemptible=best_effort,
                    image=image_from(fields[8], values["imagesize"]),
                )
            )
        except ValueError as e:
            raise TraceError(path, lineno, str(e)) from None
    return Workload(requests, None, Path(path), dropped=tally.dropped(), warnings=tally.warnings())
