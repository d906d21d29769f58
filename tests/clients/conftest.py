"""Fixtures for the real-client tests: who signs in, skopeo, umoci-built images and a
distribution peer.

The clients' server checks access as any other: each client signs in the way its users do
(`docker login`, `skopeo login`, `--creds`, `ctr --user`, ...) with the accounts `People`
sets up, and gets its registry tokens from the server's token endpoint.

Everything stays on 127.0.0.1: skopeo gets its own policy, registries.conf, registries.d
and auth file, so nothing on the host (mirrors, credential helpers, signature lookaside
stores) can send it elsewhere.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from cargohold.policy.permissions import Role
from tests.support.accounts import Accounts, Login
from tests.support.distribution import DOCKER_REGISTRY
from tests.support.distribution import Distribution as DistributionRegistry
from tests.support.images import BuiltImages, build_test_images
from tests.support.server import CargoholdServer
from tests.support.skopeo import SKOPEO, Skopeo

UMOCI = shutil.which("umoci") or "/usr/bin/umoci"


def _require(binary: str, package: str) -> None:
    if not os.access(binary, os.X_OK):
        pytest.skip(f"{binary} is missing: apt-get install {package}")


# Projects of the clients' server. The `repo` fixture's names are in TEAM.
TEAM, CI, PUBLIC, OTHER = "test", "ci", "public", "other"
PASSWORD = "a long developer password"


@dataclass(frozen=True)
class People:
    """The accounts the clients sign in with, on the clients' server:

    - `developer` (a password) is a maintainer of the private project `test` (which the
      `repo` fixture's names are in) and a developer of the public project `public`;
      `developer_token` is a personal access token of theirs;
    - `ci` is the robot `robot$ci`, with pull and push on the private project `ci`, for
      CI-style pushes;
    - nobody but the admin may do anything in the private project `other`.
    """

    accounts: Accounts
    developer: Login
    developer_token: Login
    ci: Login


@pytest.fixture(scope="session")
def people(sqlite_registry: CargoholdServer) -> Iterator[People]:
    accounts = Accounts(sqlite_registry)
    for project, public in ((TEAM, False), (CI, False), (PUBLIC, True), (OTHER, False)):
        accounts.project(project, public)
    developer = accounts.user("developer", PASSWORD)
    accounts.member(TEAM, developer.name, Role.MAINTAINER)
    accounts.member(PUBLIC, developer.name, Role.DEVELOPER)
    ci = accounts.robot("robot$ci", {CI: ("pull", "push")})
    yield People(accounts, developer, accounts.token(developer.name, "clients"), ci)
    accounts.close()


@pytest.fixture(scope="session")
def skopeo(
    tmp_path_factory: pytest.TempPathFactory, sqlite_registry: CargoholdServer, people: People
) -> Skopeo:
    """skopeo signed in to the clients' server as the developer (`skopeo login`, which keeps
    the name and password in its auth file)."""
    _require(SKOPEO, "skopeo")
    tool = Skopeo(tmp_path_factory.mktemp("skopeo-home")).setup()
    tool.login(sqlite_registry.host, people.developer)
    return tool


@pytest.fixture(scope="session")
def anonymous_skopeo(tmp_path_factory: pytest.TempPathFactory) -> Skopeo:
    """skopeo with an empty auth file: anonymous unless a command is given credentials."""
    _require(SKOPEO, "skopeo")
    return Skopeo(tmp_path_factory.mktemp("skopeo-anonymous")).setup()


@pytest.fixture(scope="session")
def test_images(tmp_path_factory: pytest.TempPathFactory) -> BuiltImages:
    """The umoci-built layout (amd64, arm64 and the two-platform index `multi`). Read-only."""
    _require(UMOCI, "umoci")
    return build_test_images(tmp_path_factory.mktemp("images"))


@pytest.fixture
def developer(sqlite_registry: CargoholdServer, people: People) -> Iterator[httpx.Client]:
    """An HTTP client signed in to the SQLite server as the developer."""
    with httpx.Client(
        base_url=sqlite_registry.url, auth=people.developer.auth, timeout=60
    ) as client:
        yield client


@pytest.fixture(scope="session")
def distribution(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DistributionRegistry]:
    """A reference registry (distribution) to copy images from and to."""
    _require(DOCKER_REGISTRY, "docker-registry")
    peer = DistributionRegistry(tmp_path_factory.mktemp("distribution")).start()
    yield peer
    peer.stop()
