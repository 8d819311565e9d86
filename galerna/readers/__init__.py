"""Workload readers: trace files in, ``LeaseRequest`` lists (and maybe a site) out.

One entry point picks the reader from the file name so callers never care
about formats:

* ``.swf``                 Standard Workload Format (best-effort jobs)
* ``.lwf`` / ``.xml``      Haizea LWF: XML when the text starts with ``<``,
                           else Haizea's old whitespace LWF
* ``.csv`` / ``.trace``    Haizea's oldest semicolon-separated scenarios
* any of these + ``.gz``   read through gzip

``inject`` merges an injection file (Haizea's ``injectionfile``) into a
workload, ``annotate`` applies an LWFA annotation file (``annotationfile``).
Every problem raises ``TraceError`` naming the file and line. A
``WorkloadCache`` reads each file once for many runs in one process.
"""
from __future__ import annotations

import copy
import gzip
import hashlib
import logging
import threading
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path
from typing import Callable

from galerna.config.schema import TraceConfig
from galerna.model import LeaseType
from galerna.readers.errors import TraceError
from galerna.readers.workload import Workload

__all__ = ["TraceError", "Workload", "WorkloadCache", "annotate", "inject", "load_workload", "SUPPORTED"]

log = logging.getLogger(__name__)

SUPPORTED = (".swf", ".lwf", ".xml", ".csv", ".trace")


def _read(path: Path) -> tuple[str, bytes]:
    """The format suffix (``.gz`` looked through) and the raw bytes."""
    suffixes = [s.lower() for s in path.suffixes]
    try:
        if suffixes and suffixes[-1] == ".gz":
            with gzip.open(path, "rb") as fh:
                data = fh.read()
            suffix = suffixes[-2] if len(suffixes) > 1 else ""
        else:
            data = path.read_bytes()
            suffix = suffixes[-1] if suffixes else ""
    except (OSError, EOFError) as e:
        raise TraceError(path, None, f"cannot read: {e.strerror if isinstance(e, OSError) and e.strerror else e}") from None
    return suffix, data


def _text(path: Path, data: bytes) -> list[str]:
    try:
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        return data.decode("latin-1").splitlines()


def load_workload(path: str | Path, trace_config: TraceConfig | None = None) -> Workload:
    """Read any supported workload file; ``trace_config`` tunes the SWF reader."""
    path = Path(path)
    workload = _parse(path, trace_config)
    _log_warnings(path, workload)
    return workload


def _log_warnings(path: Path, workload: Workload) -> None:
    for w in workload.warnings:
        log.warning("%s: %s", path, w)


def _parse(path: Path, trace_config: TraceConfig | None) -> Workload:
    suffix, data = _read(path)
    # Each format's reader is imported when a file of that format is read (start-up time, issue 13).
    if suffix == ".swf":
        from galerna.readers import swf

        workload = swf.read_swf(path, _text(path, data), trace_config)
    elif suffix in (".lwf", ".xml"):
        if data.lstrip()[:1] == b"<":
            from galerna.readers import lwf

            workload = lwf.read_lwf(path, data)
        else:
            from galerna.readers import lwf_whitespace

            workload = lwf_whitespace.read_lwf_whitespace(path, _text(path, data))
    elif suffix in (".csv", ".trace"):
        from galerna.readers import legacy_csv

        workload = legacy_csv.read_legacy_csv(path, _text(path, data))
    elif suffix == ".lwfa":
        raise TraceError(path, None, "an annotation file is not a workload; apply it with annotate(workload, path)")
    else:
        raise TraceError(
            path, None, f"unknown workload format {suffix or '(no extension)'!r}; supported: {', '.join(SUPPORTED)}"
        )
    return workload


class WorkloadCache:
    """Workloads already read in this process, by file (as named, with a digest of its bytes) and reader
    settings: every run of a sweep reads the same trace (Blue Horizon's 30 days: ~70 ms) and each injection file
    once per profile. Requests are immutable, so runs share them; each load returns its own lists, and logs the
    file's warnings as ``load_workload`` does (a run's log names them). The ``size`` files used last are kept."""

    def __init__(self, size: int = 16) -> None:
        self.size = size
        self._entries: OrderedDict[tuple, Workload] = OrderedDict()
        self._lock = threading.Lock()  # workers as threads of one process share it

    def files(self) -> list[str]:
        """The files whose workloads are kept, as named when read, least recently used first."""
        with self._lock:
            return [key[0] for key in self._entries]

    def load(self, path: str | Path, trace_config: TraceConfig | None = None) -> Workload:
        path = Path(path)
        try:
            # By content, not size and mtime: a rewrite of the same size within one mtime tick (coarse
            # file-system clocks) would otherwise hand back the old workload. Hashing Blue Horizon's 30 days
            # takes ~2 ms against ~70 ms to parse them.
            digest = hashlib.blake2b(path.read_bytes(), digest_size=16).digest()
        except OSError:
            return load_workload(path, trace_config)  # the reader names the problem
        key = (str(path), digest, trace_config.model_dump_json() if trace_config else None)
        with self._lock:
            workload = self._entries.get(key)
            if workload is not None:
                self._entries.move_to_end(key)
        if workload is None:
            workload = _parse(path, trace_config)
            with self._lock:
                self._entries[key] = workload
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
        _log_warnings(path, workload)
        mine = copy.copy(workload)  # no __post_init__: the requests are sorted already
        mine.requests, mine.dropped, mine.warnings = list(workload.requests), dict(workload.dropped), list(workload.warnings)
        return mine


def inject(workload: Workload, path: str | Path, load: Callable[[Path], Workload] = load_workload) -> Workload:
    """Merge the leases of an injection file into ``workload``, keeping ids distinct.

    Injection files hold advance reservations (Haizea merged whatever they
    held, and so do we). An injected id that collides with an existing one
    is prefixed (``inj-7``, then ``inj2-7``…). The workload's site is kept.
    ``load`` reads the file (e.g. a ``WorkloadCache``'s).
    """
    path = Path(path)
    extra = load(path)
    taken = set(workload.ids)
    merged = list(workload.requests)
    renamed = 0
    for r in extra.requests:
        new_id, n = r.id, 1
        while new_id in taken:
            new_id = f"inj-{r.id}" if n == 1 else f"inj{n}-{r.id}"
            n += 1
        if new_id != r.id:
            renamed += 1
            r = replace(r, id=new_id)
        taken.add(new_id)
        merged.append(r)
    warnings = list(workload.warnings) + [f"{path}: {w}" for w in extra.warnings]
    if renamed:
        warnings.append(f"{path}: {renamed} injected lease id(s) collided with the trace and were prefixed")
    not_ar = sum(1 for r in extra.requests if r.type is not LeaseType.AR)
    if not_ar:
        warnings.append(f"{path}: {not_ar} injected lease(s) are not advance reservations")
    dropped = dict(workload.dropped)
    for reason, n in extra.dropped.items():
        dropped[f"injected: {reason}"] = dropped.get(f"injected: {reason}", 0) + n
    return Workload(merged, workload.site or extra.site, workload.source, dropped, warnings)


def annotate(workload: Workload, path: str | Path) -> Workload:
    """Apply a Haizea LWFA annotation file to ``workload``."""
    from galerna.readers import lwf

    path = Path(path)
    _, data = _read(path)
    return lwf.annotate(workload, path, data)
