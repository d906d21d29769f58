"""Lists of IP networks in settings: `10.0.0.0/8, 192.0.2.7, ::1` (an address alone is one
host), read with the standard library's `ipaddress`."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> tuple[Network, ...]:
    """The comma-separated networks; ValueError naming the first one that is not a network
    (such as one with host bits set, `10.0.0.1/8`)."""
    networks = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=True))
        except ValueError:
            raise ValueError(f"{item[:64]!r} is not an IP address or network") from None
    return tuple(networks)


def address_in(address: str, networks: Sequence[Network]) -> bool:
    """Whether the address (text, as ASGI gives it) lies in one of the networks; False for
    anything that is not an IP address."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in networks)
