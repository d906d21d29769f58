"""Shared fixtures: real cargohold servers on SQLite and on PostgreSQL."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.postgres import PostgresServer
from tests.support.production import production_env
from tests.support.redis import RedisServer
from tests.support.seaweedfs import SeaweedServer
from tests.support.server import AUTH_FILE, CargoholdServer

_database_names = itertools.count()


@pytest.fixture(scope="session", autouse=True)
def cli_logins() -> Iterator[None]:
    """`cargohold` CLI commands run by tests sign in as the admin of the server they name
    (each test server puts its admin's entry in this auth file)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REGISTRY_AUTH_FILE", str(AUTH_FILE))
        yield


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def seaweedfs() -> Iterator[SeaweedServer]:
    """One SeaweedFS S3 gateway for the session; each user takes its own key prefix."""
    server = SeaweedServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis() -> Iterator[RedisServer]:
    """One redis-server for the session (job queues and pull-limit counters of the servers on
    the production stores)."""
    server = RedisServer().start()
    yield server
    server.stop()


# Each production server's Redis database (0 and 2 are other users').
PRODUCTION_REDIS_DB = 1


def _start(
    tmp: Path,
    request: pytest.FixtureRequest,
    backend: str,
    extra_env: dict[str, str] | None = None,
) -> CargoholdServer:
    """A server on SQLite, on PostgreSQL, or on the production stores (PostgreSQL metadata,
    blobs in SeaweedFS's S3, the job queue in Redis)."""
    database_url = ""
    env = dict(extra_env or {})
    if backend in ("postgres", "production"):
        pg: PostgresServer = request.getfixturevalue("postgres")
        database_url = pg.create_database(f"cargohold_{next(_database_names)}")
    if backend == "production":
        seaweedfs: SeaweedServer = request.getfixturevalue("seaweedfs")
        redis_server: RedisServer = request.getfixturevalue("redis")
        prefix = f"registry-{next(_database_names)}-{uuid.uuid4().hex[:8]}"
        redis_url = redis_server.db_url(PRODUCTION_REDIS_DB)
        env = {**production_env(seaweedfs, prefix, redis_url, database_url), **env}
    return CargoholdServer(tmp / "data", database_url=database_url, extra_env=env).start()


@pytest.fixture(scope="session", params=["sqlite", "postgres", "production"])
def registry(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CargoholdServer]:
    """A cargohold server shared by a session, once per metadata backend, and once on the
    production stores."""
    server = _start(tmp_path_factory.mktemp(f"registry-{request.param}"), request, request.param)
    yield server
    server.stop()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def registry_without_grace(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CargoholdServer]:
    """A server per test module and metadata backend whose garbage-collection grace period
    is 0: a link nothing references is stale at once, and a GC run frees what it can."""
    server = _start(
        tmp_path_factory.mktemp(f"no-grace-{request.param}"),
        request,
        request.param,
        {"CARGOHOLD_GC_GRACE_SECONDS": "0"},
    )
    yield server
    server.stop()


@pytest.fixture(scope="session")
def sqlite_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CargoholdServer]:
    """One SQLite-backed server for the real-client tests, which sign in as their users do
    (tests/clients/conftest.py sets up the accounts)."""
    # Some of those tests fail a login on purpose, and every client comes from 127.0.0.1:
    # a failure must not hold back the next test's logins (no slowdown, no address lock).
    settings = {
        "CARGOHOLD_AUTH_SLOWDOWN_BASE_SECONDS": "0",
        "CARGOHOLD_AUTH_ADDRESS_LOCKOUT_THRESHOLD": "100000",
    }
    server = CargoholdServer(
        tmp_path_factory.mktemp("clients") / "data", extra_env=settings
    ).start()
    yield server
    server.stop()


@pytest.fixture
def fresh_registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CargoholdServer]:
    """A server of its own, for tests that restart or kill it (SQLite)."""
    server = CargoholdServer(tmp_path / "data").start()
    yield server
    server.stop()


@pytest.fixture
def client(registry: CargoholdServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=registry.url, auth=registry.admin_auth, timeout=60) as http:
        yield http


_repo_counter = itertools.count()


@pytest.fixture
def repo(request: pytest.FixtureRequest) -> str:
    """A repository name unique to the test, valid by the spec's grammar."""
    base = "".join(c if c.isalnum() else "-" for c in request.node.name.lower()).strip("-")
    base = "-".join(part for part in base.split("-") if part)[:60]
    return f"test/{base}-{next(_repo_counter)}"
