"""Pull rate limits against a real server: Docker Hub's headers, what counts, 429 with
Retry-After, exact counts under 32 concurrent clients, a budget per client address, and a
window that ends; with the counters in SQLite, PostgreSQL and Redis.

Every test pulls from a loopback address of its own (127.0.0.0/8 all reaches the server), so
each starts with a full budget on a server the module shares."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cargohold.policy.permissions import Role
from cargohold.policy.scopes import ResourceScope
from tests.api.helpers import assert_error
from tests.support.accounts import Accounts, registry_token
from tests.support.oci import OCI_INDEX, OCI_MANIFEST, error_code, push_image, put_manifest
from tests.support.redis import RedisServer
from tests.support.server import CargoholdServer

LIMIT = 10
WINDOW = 3600
CLIENTS = 32
_addresses = (f"127.0.{n // 250}.{n % 250 + 2}" for n in itertools.count(1))


def _limited_server(
    tmp: Path,
    request: pytest.FixtureRequest,
    store: str,
    pulls: int,
    window: int,
    kind: str = "anonymous",
) -> tuple[CargoholdServer, RedisServer | None]:
    """A server limiting `kind`'s pulls; its project `test` (where `repo` names live) is
    public, so anonymous clients may pull from it."""
    env = {
        f"CARGOHOLD_PULL_LIMIT_{kind.upper()}": str(pulls),
        f"CARGOHOLD_PULL_LIMIT_{kind.upper()}_WINDOW_SECONDS": str(window),
        "CARGOHOLD_SCAN_ON_PUSH": "false",
    }
    database_url = ""
    redis = None
    if store == "postgres":
        database_url = request.getfixturevalue("postgres").create_database(
            f"pull_limits_{next(_addresses).replace('.', '_')}"
        )
    elif store == "redis":
        redis = RedisServer().start()
        env["CARGOHOLD_PULL_LIMIT_STORE"] = redis.url
    server = CargoholdServer(tmp / "data", database_url=database_url, extra_env=env).start()
    accounts = Accounts(server)
    try:
        accounts.project("test", public=True)
    finally:
        accounts.close()
    return server, redis


@pytest.fixture(scope="module", params=["sqlite", "postgres", "redis"])
def limited(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CargoholdServer]:
    """A server limiting anonymous pulls to LIMIT per WINDOW, per counter store."""
    tmp = tmp_path_factory.mktemp(f"pull-limits-{request.param}")
    server, redis = _limited_server(tmp, request, request.param, LIMIT, WINDOW)
    yield server
    server.stop()
    if redis is not None:
        redis.stop()


def _client(
    server: CargoholdServer, address: str | None = None, auth: httpx.Auth | None = None
) -> httpx.Client:
    """An anonymous client (or one signed in with `auth`), from `address` if given."""
    transport = httpx.HTTPTransport(local_address=address) if address else None
    return httpx.Client(base_url=server.url, timeout=60, transport=transport, auth=auth)


@pytest.fixture
def image(limited: CargoholdServer, repo: str) -> str:
    """An image and an index of it in `repo`; returns the repository."""
    with limited.client() as client:
        digest, body = push_image(client, repo, "v1")
        index = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [{"mediaType": OCI_MANIFEST, "digest": digest, "size": len(body)}],
        }
        assert put_manifest(client, repo, "multi", index).status_code == 201
    return repo


def _remaining(response: httpx.Response) -> int:
    assert response.headers["ratelimit-limit"] == f"{LIMIT};w={WINDOW}"
    count, window = response.headers["ratelimit-remaining"].split(";")
    assert window == f"w={WINDOW}"
    return int(count)


def test_pulls_count_down_then_are_refused_with_retry_after(
    limited: CargoholdServer, image: str
) -> None:
    with _client(limited, next(_addresses)) as client:
        remaining = []
        for _ in range(LIMIT):
            got = client.get(f"/v2/{image}/manifests/v1")
            assert got.status_code == 200, got.text
            remaining.append(_remaining(got))
        assert remaining == list(range(LIMIT - 1, -1, -1))

        refused = client.get(f"/v2/{image}/manifests/v1")
        assert_error(refused, 429, "TOOMANYREQUESTS")
        assert 1 <= int(refused.headers["Retry-After"]) <= WINDOW
        assert _remaining(refused) == 0
        # A HEAD is never refused: it says where the caller stands.
        head = client.head(f"/v2/{image}/manifests/v1")
        assert head.status_code == 200
        assert _remaining(head) == 0


def test_an_index_get_a_head_and_a_missing_manifest_are_not_pulls(
    limited: CargoholdServer, image: str
) -> None:
    with _client(limited, next(_addresses)) as client:
        for _ in range(LIMIT + 2):
            head = client.head(f"/v2/{image}/manifests/v1")
            assert (head.status_code, _remaining(head)) == (200, LIMIT)
            index = client.get(f"/v2/{image}/manifests/multi")
            assert index.headers["Content-Type"] == OCI_INDEX
            assert (index.status_code, _remaining(index)) == (200, LIMIT)
            assert client.get(f"/v2/{image}/manifests/missing").status_code == 404
        pulled = client.get(f"/v2/{image}/manifests/v1")
        assert (pulled.status_code, _remaining(pulled)) == (200, LIMIT - 1)


def test_exactly_the_limit_of_32_concurrent_clients_pull(
    limited: CargoholdServer, image: str
) -> None:
    address = next(_addresses)
    barrier = threading.Barrier(CLIENTS)
    statuses: list[int] = []

    def pull() -> None:
        with _client(limited, address) as client:
            client.get("/v2/")  # connected before the barrier: the pulls start together
            barrier.wait(timeout=30)
            statuses.append(client.get(f"/v2/{image}/manifests/v1").status_code)

    threads = [threading.Thread(target=pull) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(statuses) == [200] * LIMIT + [429] * (CLIENTS - LIMIT)


def test_each_client_address_has_its_own_budget(limited: CargoholdServer, image: str) -> None:
    with _client(limited, next(_addresses)) as first:
        for _ in range(LIMIT):
            assert first.get(f"/v2/{image}/manifests/v1").status_code == 200
        assert first.get(f"/v2/{image}/manifests/v1").status_code == 429
    with _client(limited, next(_addresses)) as second:
        got = second.get(f"/v2/{image}/manifests/v1")
        assert (got.status_code, _remaining(got)) == (200, LIMIT - 1)


@pytest.mark.parametrize("store", ["sqlite", "redis"])
def test_after_the_window_a_pull_is_allowed_again(
    store: str, request: pytest.FixtureRequest, tmp_path: Path, repo: str
) -> None:
    server, redis = _limited_server(tmp_path, request, store, pulls=2, window=2)
    try:
        with server.client() as admin:
            push_image(admin, repo, "v1")
        with _client(server) as client:
            for _ in range(2):
                assert client.get(f"/v2/{repo}/manifests/v1").status_code == 200
            refused = client.get(f"/v2/{repo}/manifests/v1")
            assert_error(refused, 429, "TOOMANYREQUESTS")
            assert 1 <= int(refused.headers["Retry-After"]) <= 2
            deadline = time.monotonic() + 15
            got = refused
            while got.status_code == 429 and time.monotonic() < deadline:
                time.sleep(0.25)
                got = client.get(f"/v2/{repo}/manifests/v1")
            assert got.status_code == 200
            assert got.headers["ratelimit-remaining"] == "1;w=2"
    finally:
        server.stop()
        if redis is not None:
            redis.stop()


def test_while_redis_is_down_the_metadata_store_keeps_the_limit(
    request: pytest.FixtureRequest, tmp_path: Path, repo: str
) -> None:
    """Redis stopped in the middle of a window: pulls go on, counted in the metadata store in
    a window of its own, and the limit still refuses the pull past it."""
    server, redis = _limited_server(tmp_path, request, "redis", pulls=LIMIT, window=WINDOW)
    assert redis is not None
    try:
        with server.client() as admin:
            push_image(admin, repo, "v1")
        with _client(server) as client:
            assert _remaining(client.get(f"/v2/{repo}/manifests/v1")) == LIMIT - 1
            redis.stop()
            for left in range(LIMIT - 1, -1, -1):
                got = client.get(f"/v2/{repo}/manifests/v1")
                assert got.status_code == 200, got.text
                assert _remaining(got) == left
            refused = client.get(f"/v2/{repo}/manifests/v1")
            assert (refused.status_code, error_code(refused)) == (429, "TOOMANYREQUESTS")
    finally:
        server.stop()
    assert "counting pulls in the metadata store meanwhile" in server.log_path.read_text()


def test_without_limits_a_pull_carries_no_rate_limit_headers(
    sqlite_registry: CargoholdServer, repo: str
) -> None:
    with sqlite_registry.client() as client:
        push_image(client, repo, "v1")
        for response in (
            client.get(f"/v2/{repo}/manifests/v1"),
            client.head(f"/v2/{repo}/manifests/v1"),
        ):
            assert response.status_code == 200
            assert "ratelimit-limit" not in response.headers
            assert "ratelimit-remaining" not in response.headers


def test_a_signed_in_users_pulls_count_against_their_name_from_anywhere(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """pull_limit_user counts a user's pulls by name: with a personal access token and with a
    registry token, from two addresses, against one budget. Anonymous callers and robots
    are other classes, unlimited here (no headers)."""
    server, _ = _limited_server(tmp_path, request, "sqlite", pulls=3, window=WINDOW, kind="user")
    accounts = Accounts(server)
    try:
        accounts.project("team")
        accounts.user("alice", "alice-password-1")
        accounts.member("team", "alice", Role.GUEST)
        pat = accounts.token("alice")
        robot = accounts.robot("puller", {"team": ("pull",)})
    finally:
        accounts.close()
    try:
        with server.client() as admin:
            push_image(admin, "team/app", "v1")
            push_image(admin, "test/open", "v1")
        bearer = registry_token(
            server, "alice", [ResourceScope("repository", "team/app", ("pull",))]
        )
        with (
            _client(server, next(_addresses), pat.auth) as first,
            _client(server, next(_addresses)) as second,
        ):
            second.headers["Authorization"] = f"Bearer {bearer}"
            answers = [
                first.get("/v2/team/app/manifests/v1"),
                second.get("/v2/team/app/manifests/v1"),
                first.get("/v2/team/app/manifests/v1"),
            ]
            assert [(a.status_code, a.headers["ratelimit-remaining"]) for a in answers] == [
                (200, "2;w=3600"),
                (200, "1;w=3600"),
                (200, "0;w=3600"),
            ]
            assert_error(second.get("/v2/team/app/manifests/v1"), 429, "TOOMANYREQUESTS")
        for other in (_client(server), _client(server, auth=robot.auth)):
            with other:
                repository = "test/open" if other.auth is None else "team/app"
                got = other.get(f"/v2/{repository}/manifests/v1")
                assert got.status_code == 200 and "ratelimit-limit" not in got.headers
    finally:
        server.stop()


def test_each_robot_has_its_own_budget_whatever_its_credentials(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """pull_limit_robot counts a robot's pulls by its name, with its secret (Basic) and with a
    registry token from the token endpoint, against one budget; another robot has its own,
    and users are another class (unlimited here)."""
    server, _ = _limited_server(tmp_path, request, "sqlite", pulls=2, window=WINDOW, kind="robot")
    accounts = Accounts(server)
    try:
        accounts.project("team")
        accounts.user("bob", "bob-password-12")
        accounts.member("team", "bob", Role.GUEST)
        first = accounts.robot("first", {"team": ("pull",)})
        second = accounts.robot("second", {"team": ("pull",)})
    finally:
        accounts.close()
    try:
        with server.client() as admin:
            push_image(admin, "team/app", "v1")
        granted = httpx.get(
            f"{server.url}/auth/token",
            params={"service": "cargohold", "scope": "repository:team/app:pull"},
            auth=first.auth,
            timeout=60,
        )
        assert granted.status_code == 200, granted.text
        with _client(server, auth=first.auth) as basic, _client(server) as bearer:
            bearer.headers["Authorization"] = f"Bearer {granted.json()['token']}"
            assert basic.get("/v2/team/app/manifests/v1").status_code == 200
            assert bearer.get("/v2/team/app/manifests/v1").status_code == 200
            refused = basic.get("/v2/team/app/manifests/v1")
            assert_error(refused, 429, "TOOMANYREQUESTS")
            assert int(refused.headers["Retry-After"]) > 0
        with _client(server, auth=second.auth) as other:
            got = other.get("/v2/team/app/manifests/v1")
            assert got.status_code == 200 and got.headers["ratelimit-remaining"] == "1;w=3600"
        with _client(server, auth=httpx.BasicAuth("bob", "bob-password-12")) as user:
            got = user.get("/v2/team/app/manifests/v1")
            assert got.status_code == 200 and "ratelimit-limit" not in got.headers
        # The refusal is in the audit log, as a denied pull of the robot.
        server.restart()  # writes the batched entries
        with server.client() as admin:
            params = {"actor": first.name, "result": "denied"}
            denied = admin.get("/api/v1/audit", params=params).json()["events"]
        assert [(e["action"], e["repository"], e["reference"]) for e in denied] == [
            ("manifest.pull", "team/app", "v1")
        ]
        assert denied[0]["detail"]["reason"] == f"pull rate limit: 2 pulls per {WINDOW} s"
    finally:
        server.stop()
