"""A server for the accounts tests (the fixture `world`: import `world_fixture` into a test
module), and the helpers they share: everything goes through the admin API (users, projects,
members, robots and tokens are made over HTTP, as a client would).

Refused logins are part of these tests (a deleted user's token, a revoked robot), so the
server is one of their own with the login slowdown off: all requests come from 127.0.0.1,
and a slowed-down address would hold back every other test's requests.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import _start as start_server
from tests.support.accounts import Login
from tests.support.server import CargoholdServer

PASSWORD = "correct horse battery"
_names = itertools.count()


def unique(prefix: str) -> str:
    """A name no other test of the session uses (the server is shared by a module)."""
    return f"{prefix}{next(_names)}x{time.time_ns() % 10**6}"


class World:
    def __init__(self, server: CargoholdServer) -> None:
        self.server = server
        self.admin = server.client(timeout=60)

    def as_(self, who: Login | httpx.Auth | None) -> httpx.Client:
        auth = who.auth if isinstance(who, Login) else who
        return httpx.Client(base_url=self.server.url, auth=auth, timeout=60)

    def user(self, name: str | None = None, system_admin: bool = False) -> Login:
        """A new user, signed in with a personal access token of its own (made over HTTP)."""
        name = name or unique("user")
        created = self.admin.post(
            "/api/v1/users",
            json={"name": name, "password": PASSWORD, "systemAdmin": system_admin},
        )
        assert created.status_code == 201, created.text
        with self.as_(httpx.BasicAuth(name, PASSWORD)) as client:
            token = client.post(f"/api/v1/users/{name}/tokens", json={"name": "tests"})
        assert token.status_code == 201, token.text
        return Login(name, token.json()["secret"])

    def project(self, name: str | None = None, public: bool = False) -> str:
        name = name or unique("proj")
        created = self.admin.post("/api/v1/projects", json={"name": name, "public": public})
        assert created.status_code == 201, created.text
        return name

    def member(self, project: str, user: str, role: str) -> None:
        added = self.admin.post(
            f"/api/v1/projects/{project}/members", json={"user": user, "role": role}
        )
        assert added.status_code == 201, added.text

    def audit(self, action: str, target: str) -> list[dict[str, Any]]:
        """The audit entries of `action` on `target`, newest first."""
        response = self.admin.get("/api/v1/audit", params={"action": action, "limit": 1000})
        assert response.status_code == 200, response.text
        return [e for e in response.json()["events"] if e["target"] == target]

    def denials(self, action: str, target: str) -> list[dict[str, Any]]:
        """The denied `action` entries on `target`; refusals are written in batches, every
        pull_flush_seconds (2 s), so this waits a bounded while for the first."""
        deadline = time.monotonic() + 30
        while True:
            found = [e for e in self.audit(action, target) if e["result"] == "denied"]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.2)


@pytest.fixture(name="world", scope="module", params=["sqlite", "postgres"])
def world_fixture(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    server = start_server(
        tmp_path_factory.mktemp(f"accounts-{request.param}"),
        request,
        request.param,
        {
            "CARGOHOLD_AUTH_SLOWDOWN_BASE_SECONDS": "0",
            "CARGOHOLD_AUTH_ADDRESS_LOCKOUT_THRESHOLD": "100000",
        },
    )
    built = World(server)
    yield built
    built.admin.close()
    server.stop()
