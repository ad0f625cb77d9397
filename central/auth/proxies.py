"""Who is on the other end of a request: the peer, or what a trusted proxy says.

``X-Forwarded-For`` is a header anyone can write. Believing it from every
peer let one host rotate it and get a fresh login allowance per made-up
address. So it is read only when the peer is one of the configured proxies
(``GATEPOST_TRUSTED_PROXIES``, default none), and then from the right: each
trusted proxy appends the address it saw, so the client is the rightmost
entry that is not itself a trusted proxy. Whatever the client wrote to the
left of that is ignored.

uvicorn's own proxy-header handling is switched off for central (see
:func:`central.app.server_config`), so the peer seen here is the socket's.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable

log = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> tuple[Network, ...]:
    """``"10.0.0.1, 192.168.10.0/24, ::1"`` → networks; a bad entry raises ValueError naming it."""
    networks: list[Network] = []
    for item in text.replace(";", ",").split(","):
        item = item.strip()
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(
                f"{item!r} is not an IP address or network (e.g. 10.0.0.5 or 10.0.0.0/24)"
            ) from None
    return tuple(networks)


def is_trusted(address: str, proxies: tuple[Network, ...]) -> bool:
    """``address`` is one of the configured proxies (an IPv4-mapped IPv6 peer counts as its IPv4)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in net for net in proxies)


def client_address(peer: str, forwarded_for: Iterable[str], proxies: tuple[Network, ...]) -> str:
    """The client's address: ``peer``, unless ``peer`` is a trusted proxy that names another."""
    if not proxies or not is_trusted(peer, proxies):
        return peer
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",")]
    address = peer
    for hop in reversed(hops):
        if not is_trusted(address, proxies):
            break
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            log.warning(
                "proxy %s sent a malformed X-Forwarded-For entry %r; using the proxy's address",
                address,
                hop[:64],
            )
            break
        address = hop
    return address
