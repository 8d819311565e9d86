"""The one error every workload reader raises, so callers catch a single type.

It names the file and line, because a trace with thousands of lines is
useless to debug from "could not convert string to float".
"""
from __future__ import annotations

from pathlib import Path


class TraceError(ValueError):
    """A workload file cannot be read: ``str()`` is ``FILE:LINE: message``."""

    def __init__(self, path: str | Path, line: int | None, message: str):
        self.path = Path(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line is not None else f"{self.path}"
        super().__init__(f"{where}: {message}")
