"""The API's listening socket, bound before any start-up work: a port clash is reported at once, not after the
rebuild and the reconciliation of every hypervisor."""
from __future__ import annotations

import socket


class CannotListen(Exception):
    pass


def listening_socket(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """A socket bound to ``host:port`` and listening (connections queue until the server accepts them)."""
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                          flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as e:
        raise CannotListen(f"cannot listen on {host}:{port}: {e.strerror}") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart may bind while old connections linger
    try:
        sock.bind(addr)
        sock.listen(backlog)
    except OSError as e:
        sock.close()
        raise CannotListen(f"cannot listen on {host}:{port}: {(e.strerror or str(e)).lower()}") from None
    return sock
