"""Haizea's oldest test scenarios: semicolon-separated ``.csv`` / ``.trace`` files.

Two layouts, told apart by the field count (as Haizea's own CSV reader did):

* 10 fields: ``time;uri;size;numNodes;memory;cpu;mode;deadline;duration;tag``
* 12 fields: ``time;realstart;uri;size;numNodes;memory;cpu;mode;deadline;duration;realduration;tag``

``deadline`` is, despite its name, the start of an advance reservation
relative to ``time`` (``NULL`` = best effort); ``realstart`` and ``tag`` are
ignored (the type follows ``deadline``). ``cpu`` is in percent of a core
(100 = 1.0; Haizea itself ignored it and gave every VM one CPU). A ``uri`` of
``NONE`` means no disk image. Ids are the request's position (1, 2, …) among
the file's requests; ``#`` starts a comment.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from galerna.model import LeaseRequest, LeaseType
from galerna.readers.common import data_lines, gang, image_from
from galerna.readers.errors import TraceError
from galerna.readers.workload import Tally, Workload

LAYOUTS = {
    10: ("time", "uri", "size", "nodes", "memory", "cpu", "mode", "deadline", "duration", "tag"),
    12: ("time", "realstart", "uri", "size", "nodes", "memory", "cpu", "mode", "deadline", "duration",
         "realduration", "tag"),
}
NUMERIC = ("time", "size", "nodes", "memory", "cpu", "duration", "realduration")


def read_legacy_csv(path: Path, lines: Iterable[str]) -> Workload:
    tally = Tally()
    requests: list[LeaseRequest] = []
    for lineno, text in data_lines(lines):
        fields = [f.strip() for f in text.split(";")]
        layout = LAYOUTS.get(len(fields))
        if layout is None:
            raise TraceError(path, lineno, f"expected 10 or 12 ';'-separated fields, found {len(fields)}")
        row = dict(zip(layout, fields))
        v: dict[str, float] = {}
        for name in NUMERIC:
            if name in row:
                try:
                    v[name] = float(row[name])
                except ValueError:
                    raise TraceError(path, lineno, f"{name} is not a number: {row[name]!r}") from None
        if row["deadline"].upper() == "NULL":
            start = None
        else:
            try:
                start = v["time"] + float(row["deadline"])
            except ValueError:
                raise TraceError(path, lineno, f"deadline is neither NULL nor a number: {row['deadline']!r}") from None
        if v["nodes"] <= 0 or v["nodes"] != int(v["nodes"]):
            tally.drop("node count not a positive whole number", lineno)
            continue
        real = v.get("realduration")
        if real is not None and real > v["duration"]:
            tally.flag("real duration above duration, cut to the duration", lineno)
            real = v["duration"]
        try:
            requests.append(
                LeaseRequest(
                    id=str(len(requests) + 1),
                    type=LeaseType.BE if start is None else LeaseType.AR,
                    submit=v["time"],
                    duration=v["duration"],
                    nodes=gang(int(v["nodes"]), {"cpu": v["cpu"] / 100.0, "memory": v["memory"]}),
                    start=start,
                    real_duration=real if real and real > 0 else None,
                    preemptible=start is None,
                    image=image_from(row["uri"], v["size"]),
                )
            )
        except ValueError as e:
            raise TraceError(path, lineno, str(e)) from None
    return Workload(requests, None, Path(path), dropped=tally.dropped(), warnings=tally.warnings())
