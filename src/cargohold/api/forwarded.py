"""The client's address behind a reverse proxy or load balancer (`trusted_proxies`).

A request whose peer is a trusted proxy carries its client's address in `X-Forwarded-For`, the
header nginx, HAProxy, Traefik and cloud load balancers append to. Each hop appends the address
it received the request from, so only the rightmost entries were written by proxies we trust:
the client is the rightmost address that is not itself a trusted proxy. Everything left of it
was written by the client and is ignored (a client could claim any address there). A request
from any other peer keeps its peer's address, whatever headers it sends; so does one whose
header holds something that is not an IP address where the client should be.

The address replaces the ASGI scope's `client` before anything reads it: the access check,
login throttling, pull rate limits, the per-client upload cap, the audit log and the access log
all see the same client.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

from cargohold.parsing.networks import Network, address_in

FORWARDED_FOR = b"x-forwarded-for"
# More hops than any real chain of proxies; a longer header is read from its right end only.
MAX_HOPS = 32


def forwarded_client(peer: str, header_values: Sequence[bytes], trusted: Sequence[Network]) -> str:
    """The client's address for a request from `peer` with these X-Forwarded-For values (in the
    order received)."""
    if not address_in(peer, trusted):
        return peer
    hops = [
        hop.strip()
        for value in header_values
        for hop in value.decode("latin-1").split(",")
        if hop.strip()
    ]
    client = peer
    for hop in reversed(hops[-MAX_HOPS:]):
        try:
            client = str(ipaddress.ip_address(hop))
        except ValueError:
            # Not an address where one was due: the last proxy's word is all we have.
            return client
        if not address_in(client, trusted):
            return client
    return client


class ForwardedFor:
    """Puts the forwarded client's address in the scope of requests from trusted proxies."""

    def __init__(self, app: ASGIApp, trusted: Sequence[Network]) -> None:
        self.app = app
        self.trusted = tuple(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] in ("http", "websocket") and client:
            values = [value for key, value in scope["headers"] if key == FORWARDED_FOR]
            address = forwarded_client(client[0], values, self.trusted) if values else client[0]
            if address != client[0]:
                scope = {**scope, "client": (address, 0)}
        await self.app(scope, receive, send)
