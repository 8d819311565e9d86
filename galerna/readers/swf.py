"""Standard Workload Format (Parallel Workloads Archive) → best-effort leases.

Each job becomes one best-effort lease of ``ceil(processors / divisor)`` VMs.
Times, as in the SWF definition, are seconds; ``-1`` means unknown.

Durations: the scheduler plans with the requested time (field 9) and the
lease really runs for the run time (field 4). When the requested time is
unknown the run time is used for both. When the run time is unknown or not
positive (typically a job cancelled while still queued) the lease runs for its
requested time. A job cannot run longer than it asked for (the batch system
kills it), so a run time above the requested time is cut to the requested
time; such leases are counted in the workload's warnings.

Cancelled jobs (status 5), after ``swf_cancelled``: ``drop-unstarted`` (the
default, and Haizea's swf2lwf rule) leaves out only those with no run time,
cancelled while queued, and keeps those cancelled while running, which held
their nodes for the run time they had, as the machine really ran them;
``drop`` leaves every one out. Under ``drop-unstarted`` a
run time of 0 (under half a second, the SWF says) becomes 1 s, as in Haizea.

Lines that are well-formed but unusable (no processors, no known time,
negative submit time, cancelled as above) are skipped and counted; a
malformed line (not 18 fields, not numbers) raises TraceError.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable

from galerna.config.schema import SwfCancelled, TraceConfig
from galerna.model import LeaseRequest, LeaseType
from galerna.readers.common import data_lines, gang
from galerna.readers.errors import TraceError
from galerna.readers.workload import Tally, Workload

N_FIELDS = 18
# 1-based field numbers of the SWF definition
JOB, SUBMIT, WAIT, RUN, ALLOC_PROCS, AVG_CPU, USED_MEM, REQ_PROCS, REQ_TIME = range(1, 10)
REQ_MEM, STATUS, USER, GROUP, EXECUTABLE, QUEUE, PARTITION, PRECEDING, THINK = range(10, 19)
CANCELLED = 5


def read_swf(path: Path, lines: Iterable[str], config: TraceConfig | None = None) -> Workload:
    """Read SWF text (``lines``, as read from ``path``) into best-effort lease requests."""
    cfg = config or TraceConfig()
    tally = Tally()
    requests: list[LeaseRequest] = []
    seen: dict[str, int] = {}
    node = {"cpu": cfg.swf_node_cpu, "memory": cfg.swf_node_memory}
    haizea_rule = cfg.swf_cancelled is SwfCancelled.DROP_UNSTARTED
    for lineno, text in data_lines(lines, comment=";"):
        fields = text.split()
        if len(fields) != N_FIELDS:
            raise TraceError(path, lineno, f"expected {N_FIELDS} whitespace-separated SWF fields, found {len(fields)}")
        try:
            v = [float(f) for f in fields]
        except ValueError:
            bad = next(f for f in fields if not _is_number(f))
            raise TraceError(path, lineno, f"SWF field {fields.index(bad) + 1} is not a number: {bad!r}") from None

        def f(n: int) -> float:
            return v[n - 1]

        job_id = fields[JOB - 1]
        if job_id in seen:
            raise TraceError(path, lineno, f"job number {job_id} already used at line {seen[job_id]}")
        seen[job_id] = lineno

        if f(STATUS) == CANCELLED and (not haizea_rule or f(RUN) < 0):
            tally.drop("cancelled job (status 5)" if not haizea_rule else "cancelled before it ran (status 5)",
                       lineno)
            continue
        if f(SUBMIT) < 0:
            tally.drop("unknown or negative submit time", lineno)
            continue
        first, second = (REQ_PROCS, ALLOC_PROCS) if cfg.swf_use_requested_processors else (ALLOC_PROCS, REQ_PROCS)
        procs = f(first) if f(first) != -1 else f(second)
        if procs <= 0:
            tally.drop("no processors", lineno)
            continue
        requested, run = f(REQ_TIME), f(RUN)
        if haizea_rule and run == 0:
            run = 1.0
        duration = requested if requested > 0 else run
        if duration <= 0:
            tally.drop("neither requested time nor run time known", lineno)
            continue
        real = run if run > 0 else duration
        if real > duration:
            tally.flag("run time above requested time, cut to the requested time", lineno)
            real = duration
        if cfg.runtime_from_requested:
            duration = real
        n_nodes = math.ceil(procs / cfg.swf_processors_per_node)
        extra = {"queue": fields[QUEUE - 1]} if f(QUEUE) != -1 else {}
        requests.append(
            LeaseRequest(
                id=job_id,
                type=LeaseType.BE,
                submit=f(SUBMIT),
                duration=duration,
                nodes=gang(n_nodes, node),
                real_duration=real,
                preemptible=True,
                tenant=f"user{fields[USER - 1]}" if f(USER) != -1 else None,
                extra=extra,
            )
        )
    return Workload(requests, None, Path(path), dropped=tally.dropped(), warnings=tally.warnings())


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True
