"""Whether an address is inside the network: outbound URLs (callbacks, media, provider
APIs) must not be aimed at it unless ALLOW_PRIVATE_URLS says so."""

from __future__ import annotations

import ipaddress


def host_is_private(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(".local"):
        return True
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return not ip.is_global
