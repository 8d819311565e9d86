"""Whether the address ``galerna serve`` listens on reaches beyond this machine, and the warning that says so."""
from __future__ import annotations

import ipaddress


def exposure_warning(host: str) -> str | None:
    """The warning for listening on ``host``, or None for a loopback address (the default, 127.0.0.1)."""
    name = host.strip().strip("[]")
    if name.lower() == "localhost":
        return None
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        ip = None  # a host name: it resolves to whatever the network says
    if ip is not None and ip.is_loopback:
        return None
    where = "on every network interface" if ip is not None and ip.is_unspecified else f"on {host}"
    return (f"the API listens {where}: it is reachable from the network, not only from this machine. Tokens travel "
            "in clear over plain HTTP: put a TLS proxy in front, or listen on 127.0.0.1")
