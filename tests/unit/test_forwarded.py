"""Who the client is behind trusted proxies: the rightmost X-Forwarded-For address that is not
a trusted proxy, and only for requests whose peer is one."""

from __future__ import annotations

import pytest

from cargohold.api.forwarded import forwarded_client
from cargohold.config import ConfigError, load_settings
from cargohold.parsing.networks import parse_networks

TRUSTED = parse_networks("10.0.0.0/8, 2001:db8::/32")


@pytest.mark.parametrize(
    ("peer", "header", "client"),
    [
        # One proxy in front: the address it saw.
        ("10.0.0.5", "198.51.100.7", "198.51.100.7"),
        # What the client wrote itself (left) is not believed: proxies append on the right.
        ("10.0.0.5", "1.2.3.4, 198.51.100.7", "198.51.100.7"),
        # Two trusted hops: the first address that is not one of ours.
        ("10.0.0.5", "1.2.3.4, 198.51.100.7, 10.1.1.1", "198.51.100.7"),
        # A peer we do not trust: its header is anyone's claim.
        ("198.51.100.9", "1.2.3.4", "198.51.100.9"),
        # Garbage where the client should be: the last trusted word.
        ("10.0.0.5", "1.2.3.4, not-an-address", "10.0.0.5"),
        ("10.0.0.5", "1.2.3.4, junk, 10.2.2.2", "10.2.2.2"),
        # IPv6, written canonically.
        ("2001:db8::1", "2001:DB8:FFFF::0001", "2001:db8:ffff::1"),
        # Only trusted hops: the leftmost of them.
        ("10.0.0.5", "10.3.3.3", "10.3.3.3"),
        ("10.0.0.5", " , ", "10.0.0.5"),
    ],
)
def test_the_client_is_the_rightmost_untrusted_hop(peer: str, header: str, client: str) -> None:
    assert forwarded_client(peer, [header.encode()], TRUSTED) == client


def test_several_header_lines_are_one_list() -> None:
    assert forwarded_client("10.0.0.5", [b"1.2.3.4", b"198.51.100.7"], TRUSTED) == "198.51.100.7"


def test_nothing_is_trusted_by_default() -> None:
    assert load_settings(env={}).trusted_proxy_networks == ()
    assert forwarded_client("127.0.0.1", [b"1.2.3.4"], ()) == "127.0.0.1"


@pytest.mark.parametrize("bad", ["10.0.0.1/8", "proxy.internal", "10.0.0.0/33"])
def test_a_setting_that_is_not_networks_is_refused(bad: str) -> None:
    with pytest.raises(ConfigError, match="trusted_proxies"):
        load_settings(env={"CARGOHOLD_TRUSTED_PROXIES": bad})
