"""Whether an address is inside the network: what the service fetches or posts on a tenant's
behalf (callbacks, media, provider APIs, SMTP hosts) must not be aimed at it unless
ALLOW_PRIVATE_URLS says so.

Two checks, for two moments. `host_is_private` reads a URL's host as written (at accept and
when a provider is saved: a clear 400 early, no DNS). `public_address` resolves a name and
refuses it unless every address is public; the outbound clients (core.http, the SMTP
connection) then connect to the very address that was checked, so a name that resolves
differently the second time (DNS rebinding) gains nothing.
"""

from __future__ import annotations

import ipaddress
import socket

IP = ipaddress.IPv4Address | ipaddress.IPv6Address

# Ranges Python's is_global lets through that still reach inside: NAT64 and 6to4 embed an
# IPv4 address a gateway translates (64:ff9b::7f00:1 is loopback behind it); CG-NAT.
_TRANSLATED = (
    ipaddress.ip_network("64:ff9b::/96"),
    ipaddress.ip_network("64:ff9b:1::/48"),
    ipaddress.ip_network("2002::/16"),
)
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_SHARED = ipaddress.ip_network("100.64.0.0/10")

LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


class PrivateAddress(Exception):
    """A host that is, or resolves to, an address inside the network."""


def address_is_public(ip: IP) -> bool:
    """A globally routable unicast address (IPv4-mapped and -compatible IPv6 judged by the
    IPv4 address inside; NAT64 and 6to4 never)."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return address_is_public(ip.ipv4_mapped)
        if ip in _IPV4_COMPATIBLE:
            return address_is_public(ipaddress.IPv4Address(ip.packed[-4:]))
        if any(ip in net for net in _TRANSLATED):
            return False
    if isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED:
        return False
    return ip.is_global and not (
        ip.is_multicast or ip.is_private or ip.is_reserved or ip.is_loopback or ip.is_link_local
    )


def literal_address(host: str) -> IP | None:
    """The address a host written as a literal means, in any form the C resolver accepts
    ('127.1', '2130706433', '0x7f000001', '[::ffff:127.0.0.1]'); None for a name."""
    host = host.strip().strip("[]").rstrip(".")
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))  # the legacy numeric forms
    except OSError:
        return None


def host_is_private(host: str) -> bool:
    """Whether a host as written is a private or loopback address or a local name."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if not name or name in LOCAL_NAMES or name.endswith((".localhost", ".local")):
        return True
    ip = literal_address(name)
    return ip is not None and not address_is_public(ip)


def public_address(host: str, port: int | None) -> str:
    """Resolve `host` and return the first of its addresses, or raise PrivateAddress when
    any of them is not public (a name with one private address is refused outright)."""
    if host_is_private(host):
        raise PrivateAddress(f"{host} is a private or loopback address")
    infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    addresses = [info[4][0] for info in infos]
    for address in addresses:
        if not address_is_public(ipaddress.ip_address(address.split("%", 1)[0])):
            raise PrivateAddress(f"{host} resolves to a private or loopback address ({address})")
    return addresses[0]
