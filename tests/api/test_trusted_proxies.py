"""Behind a reverse proxy: with `trusted_proxies` set, the client is the address the proxy
forwards (X-Forwarded-For) for the login throttle and the audit log; without it, or from a peer
that is not a trusted proxy, the header is the client's claim and changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.server import CargoholdServer

ADDRESS_LOCKOUT = 2
ENV = {
    "CARGOHOLD_AUTH_SLOWDOWN_BASE_SECONDS": "0",
    "CARGOHOLD_AUTH_ADDRESS_LOCKOUT_THRESHOLD": str(ADDRESS_LOCKOUT),
    "CARGOHOLD_AUTH_LOCKOUT_THRESHOLD": "1000",
}


def _server(data_dir: Path, trusted: str) -> CargoholdServer:
    env = dict(ENV)
    if trusted:
        env["CARGOHOLD_TRUSTED_PROXIES"] = trusted
    return CargoholdServer(data_dir, extra_env=env).start()


@pytest.fixture(scope="module")
def behind_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CargoholdServer]:
    server = _server(tmp_path_factory.mktemp("proxied"), "127.0.0.0/8")
    yield server
    server.stop()


def _fail_login(server: CargoholdServer, forwarded: str) -> httpx.Response:
    return httpx.get(
        f"{server.url}/api/v1/system",
        auth=("nobody", "wrong password"),
        headers={"X-Forwarded-For": forwarded},
        timeout=30,
    )


def _login_addresses(server: CargoholdServer) -> list[str]:
    server.restart()  # a clean stop writes the batched login entries
    with server.client() as admin:
        events = admin.get("/api/v1/audit", params={"actor": "nobody", "limit": 100}).json()
    return [e["address"] for e in events["events"] if e["action"] == "login"]


def test_failed_logins_count_against_the_forwarded_client(behind_proxy: CargoholdServer) -> None:
    # A client behind the proxy that writes its own header gets no say: the proxy appended.
    attacker = "192.0.2.1, 198.51.100.66"
    for _ in range(ADDRESS_LOCKOUT):
        assert _fail_login(behind_proxy, attacker).status_code == 401
    locked = _fail_login(behind_proxy, "203.0.113.5, 198.51.100.66")
    assert locked.status_code == 429, locked.text
    assert int(locked.headers["Retry-After"]) > 0
    # Everyone else behind the same proxy still signs in.
    assert _fail_login(behind_proxy, "198.51.100.67").status_code == 401
    with behind_proxy.client() as admin:
        assert admin.get("/api/v1/system").status_code == 200
    addresses = _login_addresses(behind_proxy)
    assert set(addresses) == {"198.51.100.66", "198.51.100.67"}, addresses


def test_without_trusted_proxies_the_header_changes_nothing(tmp_path: Path) -> None:
    server = _server(tmp_path / "direct", "")
    try:
        assert _fail_login(server, "198.51.100.66").status_code == 401
        assert _fail_login(server, "198.51.100.67").status_code == 401
        # Both counted against the connection's own address, which is now locked for every
        # client on it, the admin too.
        assert _fail_login(server, "198.51.100.68").status_code == 429
        admin = httpx.get(f"{server.url}/api/v1/system", auth=server.admin_auth, timeout=30)
        assert admin.status_code == 429, admin.text
    finally:
        server.stop()
