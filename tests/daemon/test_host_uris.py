"""Issue 17 section 3's finding: ``POST /v1/hosts`` with a ``test:///`` URI must not read (and quote) any local
file. test:/// hosts are confined to a configured directory (default ``<data_dir>/test-hosts``), plus the embedded
``test:///default``; every refusal is a 422 naming ``uri`` that quotes no file contents."""
from __future__ import annotations

from pathlib import Path

import pytest

from galerna.enact.config import NODE_XML
from tests.daemon.conftest import make_server

pytestmark = pytest.mark.xdist_group("daemon-host-uris")


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s, drop = make_server("sqlite", tmp_path_factory.mktemp("host-uris"))
    s.start()
    yield s
    s.stop()
    drop()


def first_line(path: str) -> str:
    try:
        return Path(path).read_text().splitlines()[0].strip()
    except (OSError, IndexError):
        return ""


@pytest.mark.parametrize("uri", ["test:///etc/shadow", "test:///etc/passwd", "test:///etc/hostname",
                                 "test://localhost/etc/passwd", "test:///%2Fetc/passwd"])
def test_a_test_uri_outside_the_directory_is_refused_without_reading_it(srv, uri):
    with srv.client("admin") as c:
        r = c.post("/v1/hosts", json={"name": "snoop", "uri": uri})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body", "uri"]
    assert "test-hosts" in r.json()["detail"][0]["msg"]  # says where test hosts may live
    for secret in ("/etc/shadow", "/etc/passwd", "/etc/hostname"):
        line = first_line(secret)
        assert not line or line not in r.text


def test_a_dot_dot_path_does_not_leave_the_directory(srv):
    base = srv.workdir / "data" / "test-hosts"
    with srv.client("admin") as c:
        r = c.post("/v1/hosts", json={"name": "snoop", "uri": f"test://{base}/../../../../../../etc/passwd"})
    assert r.status_code == 422 and first_line("/etc/passwd") not in r.text


def test_a_file_in_the_directory_that_is_not_a_node_file_is_not_quoted(srv):
    bad = srv.workdir / "data" / "test-hosts" / "notes.xml"
    bad.write_text("secret-line-42: do not show me\n")
    with srv.client("admin") as c:
        r = c.post("/v1/hosts", json={"name": "notes", "uri": f"test://{bad}"})
    assert r.status_code == 422, r.text
    assert "secret-line-42" not in r.text and r.json()["detail"][0]["loc"] == ["body", "uri"]


def test_node_files_in_the_directory_and_the_embedded_default_are_allowed(srv):
    base = srv.workdir / "data" / "test-hosts"
    node = base / "extra.xml"
    node.write_text(NODE_XML.format(cpus=2, memory_kib=2048 * 1024, pool=base / "pool-extra"))
    with srv.client("admin") as c:
        r = c.post("/v1/hosts", json={"name": "extra", "uri": f"test://{node}"})
        assert r.status_code == 201, r.text
        assert r.json()["cpu"] == 2.0
        r = c.post("/v1/hosts", json={"name": "embedded", "uri": "test:///default"})
        assert r.status_code == 201, r.text
