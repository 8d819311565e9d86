"""Which hypervisor URIs an admin may add at run time: ``test:///`` hosts only from one directory.

libvirt's test driver reads the file a ``test:///PATH`` URI names and, when it is not a node file, says what it
found there: with any path allowed, ``POST /v1/hosts`` read the first line of any file the daemon can read
(``test:///etc/shadow``). So a test URI is either the embedded ``test:///default`` or a file under
``[daemon] test_uri_dir`` (default ``<data_dir>/test-hosts``, where the default test hosts live), and what the test
driver says about a file it could not use is never passed on.
"""
from __future__ import annotations

import os
from urllib.parse import unquote, urlsplit

from galerna.daemon.errors import ErrorKind, Refused

DEFAULT_TEST_URI = "test:///default"


def is_test_uri(uri: str) -> bool:
    return uri.split(":", 1)[0].lower().startswith("test")


def check_test_uri(uri: str, allowed_dir: str) -> None:
    """:class:`Refused` (invalid, field ``uri``) for a test-driver URI other than the embedded default or a file
    under ``allowed_dir``; other URIs pass unchanged."""
    if not is_test_uri(uri) or uri == DEFAULT_TEST_URI:
        return
    where = os.path.realpath(allowed_dir)
    parts = urlsplit(uri)
    path = unquote(parts.path)
    inside = (parts.scheme == "test" and not parts.netloc and not parts.query and not parts.fragment
              and "%" not in parts.path and os.path.isabs(path)
              and os.path.commonpath([where, os.path.realpath(path)]) == where)
    if not inside:
        raise Refused(f"a test:/// host must be {DEFAULT_TEST_URI} or a libvirt node file under {where}",
                      ErrorKind.INVALID, field="uri")


def unreachable(uri: str, error: Exception) -> Refused:
    """The refusal of a URI whose hypervisor did not answer. For a test-driver file, not libvirt's words: they may
    quote the file."""
    why = "not a libvirt test-driver node file" if is_test_uri(uri) else str(error)
    return Refused(f"cannot reach a hypervisor at {uri}: {why}", ErrorKind.INVALID, field="uri")
