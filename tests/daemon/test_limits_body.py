"""Request bodies against a real `galerna serve` (issue 17 §3): who asks is known before a body is read, a body
is capped as it streams in (default ``[api] max_body_bytes`` = 1 MiB), a too-long node list is refused before its
items are validated, and a 422 echoes little of the input.

The raw-socket tests send the request head and only part of the body (or none) and then wait for the answer: a
server that reads the body before it decides never answers them.
"""
from __future__ import annotations

import json
import select
import socket
import time

import pytest

pytestmark = pytest.mark.xdist_group("daemon")  # with test_api.py: they share its server

MIB = 1024 * 1024


@pytest.fixture
def server(shared_server):
    """The server this module shares with the other of test_api.py / test_limits_body.py (conftest)."""
    return shared_server


def _head(server, length: int | None, token: str | None = None, path: str = "/v1/leases") -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{server.port}", "Content-Type: application/json"]
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    lines.append(f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _answer(sock: socket.socket, timeout: float = 10.0) -> tuple[int, bytes]:
    """The status and body of the answer, waiting at most ``timeout`` seconds for it to begin."""
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        sock.settimeout(2)
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except TimeoutError:
        if not data:
            raise AssertionError(f"no answer within {timeout} s: the server is waiting for the body") from None
    except ConnectionResetError:
        pass
    assert data.startswith(b"HTTP/1.1 "), data[:200]
    return int(data.split(b" ", 2)[1]), data.split(b"\r\n\r\n", 1)[1]


def _connect(server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


@pytest.mark.parametrize("who", [None, "not-a-token", "revoked"])
def test_a_body_without_a_valid_token_is_refused_before_it_is_read(server, who):
    """80 MB announced, 4 KiB sent: the 401 comes at once, not after the body (or never)."""
    token = server.tokens.get(who, who)
    with _connect(server) as s:
        s.sendall(_head(server, 80_000_000, token) + b'{"type": "best_effort", "nodes": [' + b"{}," * 1300)
        status, body = _answer(s)
    assert status == 401, body
    assert "token" in json.loads(body)["detail"]


def test_a_too_long_content_length_is_refused_before_the_body_is_read(server):
    with _connect(server) as s:
        s.sendall(_head(server, 2 * MIB, server.tokens["alice"]))
        status, body = _answer(s)
    assert status == 413, body
    assert "1048576" in json.loads(body)["detail"]


def test_a_chunked_body_is_cut_off_as_soon_as_it_is_too_big(server):
    """No Content-Length: 1.5 MiB sent as chunks, then the client stalls with the body unfinished; the server
    counts what arrives and answers 413 without waiting for the end."""
    with _connect(server) as s:
        s.sendall(_head(server, None, server.tokens["alice"]))
        piece = b"[" + b"1," * 32767 + b"1"
        for _ in range(24):
            s.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        status, body = _answer(s)
    assert status == 413, body


def test_a_body_under_the_cap_is_still_served(server):
    """Just under 1 MiB of valid JSON (a long name is refused by its own rule, naming the field)."""
    with server.client("alice") as c:
        r = c.post("/v1/leases", content=json.dumps({"type": "best_effort", "duration": 60, "name": "x" * 1_000_000}),
                   headers={"Content-Type": "application/json"})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "name"], r.text[:300]
        r = c.post("/v1/leases", json={"type": "best_effort", "duration": 60, "memory": 64, "name": "ok"})
        assert r.status_code == 201, r.text


def test_too_many_nodes_are_refused_before_any_node_is_validated(server):
    """10,000 nodes, each invalid: the answer is the one length error, not 10,000 errors about the items."""
    with server.client("alice") as c:
        r = c.post("/v1/leases", json={"type": "best_effort", "duration": 60, "nodes": [{"BAD": 1}] * 10_000})
    assert r.status_code == 422, r.text[:300]
    errors = r.json()["detail"]
    assert [(e["loc"], e["type"]) for e in errors] == [(["body", "nodes"], "too_long")], r.text[:500]
    assert "1024" in errors[0]["msg"]


def test_a_422_echoes_little_of_the_input(server):
    with server.client("alice") as c:
        r = c.post("/v1/leases", json={"type": "best_effort", "duration": 60, "nodes": [{"cpu": 1}] * 30_000})
        assert r.status_code == 422
        assert len(r.content) < 2048, len(r.content)
        assert r.json()["detail"][0]["loc"] == ["body", "nodes"]
        r = c.post("/v1/leases", json={"type": "weekly" * 10_000, "duration": 60})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "type"]
        echoed = r.json()["detail"][0]["input"]
        assert isinstance(echoed, str) and echoed.startswith("weekly") and len(echoed) <= 100, echoed
