"""The token endpoint over HTTP, on SQLite and PostgreSQL: what GET /auth/token (the Docker
token spec), POST /auth/token (OAuth2) and POST /auth/revoke answer, and the tokens they sign.

Users, projects, robots and personal access tokens are made through the access services on
the server's own metadata store (tests/support/accounts.py says why); everything asserted is
what a client sees over HTTP, checked with PyJWT against the server's public key.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
import pytest
from argon2 import PasswordHasher
from cryptography.hazmat.primitives import serialization

from cargohold.config import load_settings
from cargohold.meta.db import make_engine
from cargohold.meta.robots import RobotScope
from cargohold.meta.store import MetadataStore
from cargohold.policy.permissions import Role
from cargohold.services.access import AccessControl
from cargohold.services.secrets_hashing import (
    PASSWORD_CHECKS_AT_ONCE,
    PASSWORD_CHECKS_WAITING,
    Passwords,
)
from cargohold.services.token_keys import key_id
from cargohold.wiring_access import build_access_control
from tests.api.helpers import assert_error
from tests.support.accounts import OPERATOR
from tests.support.accounts import SYSTEM as ROOT
from tests.support.postgres import PostgresServer
from tests.support.server import CargoholdServer

PASSWORD = "correct horse battery"
SERVICE = "cargohold"
LOCKOUT_THRESHOLD = 3
# No slowdown between failures (a test's second attempt would otherwise depend on how long
# the first took), the account locks at the third, and the shared loopback address never.
SERVER_ENV = {
    "CARGOHOLD_AUTH_SLOWDOWN_BASE_SECONDS": "0",
    "CARGOHOLD_AUTH_LOCKOUT_THRESHOLD": str(LOCKOUT_THRESHOLD),
    "CARGOHOLD_AUTH_ADDRESS_LOCKOUT_THRESHOLD": "100000",
    "CARGOHOLD_AUTH_LOCKOUT_SECONDS": "900",
}
_names = itertools.count()
_databases = itertools.count()


@dataclass
class Stack:
    server: CargoholdServer
    client: httpx.Client
    access: AccessControl
    settings_env: dict[str, str]

    def access_at(self, clock_offset: float) -> AccessControl:
        """The access services with a clock `clock_offset` seconds away from now."""
        settings = load_settings(env=self.settings_env)
        control = build_access_control(
            settings, self.access.stores.users.db, clock=lambda: time.time() + clock_offset
        )
        control.identity.passwords = self.access.identity.passwords
        return control

    def user(self, role: Role | None = None, project: str = "team") -> str:
        name = f"user{next(_names)}"
        self.access.users.create_user(name, PASSWORD, False, OPERATOR)
        if role is not None:
            self.project(project)
            self.access.stores.projects.set_member(
                project, name, role, OPERATOR.as_actor(), time.time()
            )
        return name

    def project(self, name: str, public: bool = False) -> None:
        self.access.stores.projects.create(name, public, OPERATOR.as_actor(), time.time())

    def robot(
        self,
        scopes: dict[str, tuple[str, ...]],
        access: AccessControl | None = None,
        expires_in_days: int | None = None,
    ) -> tuple[str, str]:
        for project in scopes:
            self.project(project)
        robot, secret = (access or self.access).robots.create(
            ROOT,
            f"ci{next(_names)}",
            [RobotScope(p, a) for p, a in scopes.items()],
            expires_in_days,
        )
        return robot.name, secret

    def public_key(self) -> Any:
        pem = (self.server.data_dir / "token-keys" / "key-0001.pem").read_bytes()
        return serialization.load_pem_private_key(pem, password=None).public_key()  # type: ignore[union-attr]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp(f"tokens-{request.param}")
    database_url = ""
    if request.param == "postgres":
        pg: PostgresServer = request.getfixturevalue("postgres")
        database_url = pg.create_database(f"tokens_{next(_databases)}")
    server = CargoholdServer(tmp / "data", database_url=database_url, extra_env=SERVER_ENV)
    server.start()
    settings_env = {"CARGOHOLD_DATA_DIR": str(server.data_dir), **SERVER_ENV}
    if database_url:
        settings_env["CARGOHOLD_DATABASE_URL"] = database_url
    settings = load_settings(env=settings_env)
    engine = make_engine(settings.metadata_url)
    access = build_access_control(settings, MetadataStore(engine).db)
    # Cheap hashes for the users the tests make (the server verifies any argon2 hash).
    access.identity.passwords = Passwords(PasswordHasher(time_cost=1, memory_cost=1024))
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield Stack(server, client, access, settings_env)
    engine.dispose()
    server.stop()


def get_token(
    stack: Stack, *scopes: str, auth: tuple[str, str] | None = None, **params: str
) -> httpx.Response:
    query: list[tuple[str, str]] = [("service", SERVICE), *(("scope", s) for s in scopes)]
    query += list(params.items())
    return stack.client.get("/auth/token", params=query, auth=auth)


def post_token(stack: Stack, **form: str) -> httpx.Response:
    return stack.client.post("/auth/token", data={"service": SERVICE, "client_id": "tests", **form})


def claims_of(stack: Stack, token: str) -> dict[str, Any]:
    return jwt.decode(
        token, stack.public_key(), algorithms=["ES256"], audience=SERVICE, issuer="cargohold"
    )


def access_of(stack: Stack, response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    return claims_of(stack, response.json()["token"])["access"]


def assert_oauth_error(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error, body
    assert isinstance(body["error_description"], str) and body["error_description"]


# -- GET: who gets what -----------------------------------------------------------------------


def test_anonymous_gets_pull_on_public_projects_only(stack: Stack) -> None:
    stack.project("pub", public=True)
    stack.project("priv")
    response = get_token(stack, "repository:pub/app:pull,push", "repository:priv/app:pull")
    assert access_of(stack, response) == [
        {"type": "repository", "name": "pub/app", "actions": ["pull"]},
        {"type": "repository", "name": "priv/app", "actions": []},
    ]
    assert claims_of(stack, response.json()["token"])["sub"] == ""
    # Asking for a refresh token without signing in is not an error; there is none.
    offline = get_token(stack, "repository:pub/app:pull", offline_token="true")
    assert offline.status_code == 200 and "refresh_token" not in offline.json()


def test_a_member_gets_the_intersection_of_asked_and_allowed(stack: Stack) -> None:
    name = stack.user(Role.DEVELOPER, "team")
    response = get_token(
        stack,
        "repository:team/app:pull,push,delete",
        "repository:elsewhere/app:pull",
        auth=(name, PASSWORD),
    )
    assert access_of(stack, response) == [
        {"type": "repository", "name": "team/app", "actions": ["pull", "push"]},
        {"type": "repository", "name": "elsewhere/app", "actions": []},
    ]
    assert claims_of(stack, response.json()["token"])["sub"] == name


def test_several_scopes_in_one_value_and_repeated_are_merged(stack: Stack) -> None:
    name = stack.user(Role.MAINTAINER, "multi")
    response = get_token(
        stack,
        "repository:multi/a:pull repository:multi/b:push",
        "repository:multi/a:delete",
        auth=(name, PASSWORD),
    )
    assert access_of(stack, response) == [
        {"type": "repository", "name": "multi/a", "actions": ["delete", "pull"]},
        {"type": "repository", "name": "multi/b", "actions": ["push"]},
    ]


def test_a_name_with_a_host_and_port_is_split_at_the_last_colon(stack: Stack) -> None:
    response = get_token(
        stack, "repository:localhost:5000/team/app:pull", auth=stack.server.admin_auth
    )
    assert access_of(stack, response) == [
        {"type": "repository", "name": "localhost:5000/team/app", "actions": ["pull"]}
    ]


def test_the_catalog_scope_is_granted(stack: Stack) -> None:
    assert access_of(stack, get_token(stack, "registry:catalog:*")) == [
        {"type": "registry", "name": "catalog", "actions": ["*"]}
    ]


def test_no_scope_signed_in_is_an_empty_grant_not_an_error(stack: Stack) -> None:
    response = get_token(stack, auth=stack.server.admin_auth)
    assert access_of(stack, response) == []


def test_the_token_is_an_es256_jwt_with_the_spec_claims(stack: Stack) -> None:
    first = get_token(stack, "repository:team/app:pull", auth=stack.server.admin_auth)
    second = get_token(stack, "repository:team/app:pull", auth=stack.server.admin_auth)
    body = first.json()
    assert first.headers["Cache-Control"] == "no-store"
    assert body["token"] == body["access_token"]
    assert body["expires_in"] >= 60
    header = jwt.get_unverified_header(body["token"])
    assert header == {"alg": "ES256", "typ": "JWT", "kid": key_id(stack.public_key())}
    claims = claims_of(stack, body["token"])
    assert set(claims) == {"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "access"}
    assert claims["iss"] == "cargohold" and claims["aud"] == SERVICE
    assert claims["sub"] == "admin"
    assert claims["nbf"] == claims["iat"]
    assert claims["exp"] - claims["iat"] == body["expires_in"]
    issued_at = datetime.fromtimestamp(claims["iat"], UTC).isoformat().replace("+00:00", "Z")
    assert body["issued_at"] == issued_at
    assert len(claims["jti"]) == 32
    # The same grant asked for again within seconds: the token signed for the first request,
    # with its issued_at and expires_in, so the client reckons the same expiry.
    assert second.json() == body
    wider = get_token(stack, "repository:team/app:pull,push", auth=stack.server.admin_auth)
    assert claims_of(stack, wider.json()["token"])["jti"] != claims["jti"]


# -- GET: credentials -------------------------------------------------------------------------


def test_a_personal_access_token_stands_in_for_the_password(stack: Stack) -> None:
    name = stack.user(Role.GUEST, "pats")
    _, text = stack.access.users.create_access_token(name, "ci", None, OPERATOR)
    response = get_token(stack, "repository:pats/app:pull,push", auth=(name, text))
    assert access_of(stack, response) == [
        {"type": "repository", "name": "pats/app", "actions": ["pull"]}
    ]
    other = stack.user()
    assert_error(get_token(stack, auth=(other, text)), 401, "UNAUTHORIZED")


def test_a_robot_gets_its_scopes_and_an_expired_or_revoked_one_nothing(stack: Stack) -> None:
    name, secret = stack.robot({"robots": ("pull",)})
    response = get_token(stack, "repository:robots/app:pull,push", auth=(name, secret))
    assert access_of(stack, response) == [
        {"type": "repository", "name": "robots/app", "actions": ["pull"]}
    ]
    # Created two days ago for one day.
    expired, expired_secret = stack.robot(
        {"robots": ("pull",)}, access=stack.access_at(-2 * 86400), expires_in_days=1
    )
    assert_error(get_token(stack, auth=(expired, expired_secret)), 401, "UNAUTHORIZED")
    stack.access.robots.revoke(ROOT, name)
    assert_error(get_token(stack, auth=(name, secret)), 401, "UNAUTHORIZED")


def test_a_robots_wrong_secrets_never_lock_it_out(stack: Stack) -> None:
    """A robot's name is no secret (it sits in CI files) and its secret cannot be guessed:
    wrong secrets under its name, however many, count on the sending address alone, and the
    robot's own secret goes on getting tokens, on the event loop's quick path as well."""
    name, secret = stack.robot({"lockbots": ("pull",)})
    scope = "repository:lockbots/app:pull"
    for _ in range(3 * LOCKOUT_THRESHOLD):
        assert_error(get_token(stack, scope, auth=(name, "wrong")), 401, "UNAUTHORIZED")
    for _ in range(2):
        assert get_token(stack, scope, auth=(name, secret)).status_code == 200
    account, address = stack.access.stores.failures.get_both(name, "127.0.0.1")
    assert account is None
    assert address is not None and address.failures >= 3 * LOCKOUT_THRESHOLD


def test_each_robot_login_is_audited_once(stack: Stack) -> None:
    name, secret = stack.robot({"auditbots": ("pull",)})
    scope = "repository:auditbots/app:pull"
    for _ in range(3):
        assert get_token(stack, scope, auth=(name, secret)).status_code == 200
    assert_error(get_token(stack, scope, auth=(name, "wrong")), 401, "UNAUTHORIZED")
    assert get_token(stack, scope, auth=(name, secret)).status_code == 200  # clears it
    stack.server.stop()  # flushes the batched entries
    stack.server.start()
    counts: dict[str, int] = {}
    for result, detail in stack.access.stores.users.db.rows(
        "SELECT result, detail FROM audit_events WHERE action = 'login' AND actor = ?", (name,)
    ):
        counts[str(result)] = counts.get(str(result), 0) + json.loads(str(detail))["count"]
    assert counts == {"ok": 4, "failed": 1}


def test_a_wrong_password_is_401_with_a_basic_challenge_and_no_hint(stack: Stack) -> None:
    name = stack.user()
    wrong = get_token(stack, auth=(name, "not the password"))
    unknown = get_token(stack, auth=("nobody-at-all", "not the password"))
    for response in (wrong, unknown):
        assert_error(response, 401, "UNAUTHORIZED")
        assert response.headers["WWW-Authenticate"] == 'Basic realm="cargohold"'
    assert wrong.json() == unknown.json()


def test_a_burst_of_password_sign_ins_past_what_may_wait_gets_429_and_counts_no_failure(
    stack: Stack,
) -> None:
    """Each password check (argon2) holds a thread of the server's request pool while it
    runs or waits for its turn. A burst of sign-ins larger than a process lets wait is
    refused at once, GET and POST alike: 429 with Retry-After and words of its own, not a
    failed login (the account signs in right after, though three failures lock it)."""
    identity = stack.access.identity
    cheap, identity.passwords = identity.passwords, Passwords()  # argon2's shipped cost
    try:
        name = stack.user()
    finally:
        identity.passwords = cheap
    burst = 6 * (PASSWORD_CHECKS_AT_ONCE + PASSWORD_CHECKS_WAITING)
    start = threading.Barrier(burst)

    def sign_in(n: int) -> httpx.Response:
        with httpx.Client(base_url=stack.server.url, timeout=120) as client:
            start.wait(60)
            if n % 2:
                form = {"grant_type": "password", "username": name, "password": PASSWORD}
                return client.post(
                    "/auth/token", data={"service": SERVICE, "client_id": "tests", **form}
                )
            return client.get("/auth/token", params={"service": SERVICE}, auth=(name, PASSWORD))

    with ThreadPoolExecutor(burst) as pool:
        answers = list(pool.map(sign_in, range(burst)))
    statuses = [answer.status_code for answer in answers]
    assert set(statuses) <= {200, 429}, statuses
    assert statuses.count(200) >= PASSWORD_CHECKS_AT_ONCE and 429 in statuses, statuses
    for n, answer in enumerate(answers):
        if answer.status_code == 429:
            assert answer.headers["Retry-After"] == "1"
            words = answer.json()["error_description" if n % 2 else "errors"]
            assert "too many password checks at once" in json.dumps(words), answer.text
    assert get_token(stack, auth=(name, PASSWORD)).status_code == 200


def test_repeated_failures_lock_the_account_429_with_retry_after(stack: Stack) -> None:
    name = stack.user()
    for _ in range(LOCKOUT_THRESHOLD):
        assert_error(get_token(stack, auth=(name, "not the password")), 401, "UNAUTHORIZED")
    locked = get_token(stack, auth=(name, PASSWORD))  # even the right password is not checked
    assert_error(locked, 429, "TOOMANYREQUESTS")
    assert 1 <= int(locked.headers["Retry-After"]) <= 900
    refused = post_token(stack, grant_type="password", username=name, password=PASSWORD)
    assert_oauth_error(refused, 429, "invalid_grant")
    assert int(refused.headers["Retry-After"]) >= 1
    # A name that does not exist locks the same way: the answer tells nothing.
    for _ in range(LOCKOUT_THRESHOLD):
        get_token(stack, auth=("no-such-user-here", "guess"))
    ghost = get_token(stack, auth=("no-such-user-here", "guess"))
    assert_error(ghost, 429, "TOOMANYREQUESTS")
    assert (
        ghost.json()["errors"][0]["message"].split(" in ")[0]
        == (locked.json()["errors"][0]["message"].split(" in ")[0])
    )


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"service": "registry.docker.io"}, "TOKEN_REQUEST_INVALID"),
        ({"offline_token": "maybe"}, "TOKEN_REQUEST_INVALID"),
        ({"client_id": "bad\x01id"}, "TOKEN_REQUEST_INVALID"),
        ({"client_id": "x" * 256}, "TOKEN_REQUEST_INVALID"),
        ({"scope": "repository:team/app"}, "SCOPE_INVALID"),
        ({"scope": "repository::pull"}, "SCOPE_INVALID"),
        ({"scope": "repository:team/app:"}, "SCOPE_INVALID"),
        ({"scope": "repository:team/app:pull;push"}, "SCOPE_INVALID"),
        ({"scope": ":x:pull"}, "SCOPE_INVALID"),
    ],
)
def test_a_malformed_request_is_400_never_500(
    stack: Stack, params: dict[str, str], code: str
) -> None:
    query = {"service": SERVICE, **params}
    assert_error(stack.client.get("/auth/token", params=query), 400, code)


def test_credentials_that_cannot_be_read_are_401(stack: Stack) -> None:
    for header in ("Basic !!!", "Basic " + "A" * 20000, "Digest x", "Bearer abc.def.ghi"):
        response = stack.client.get(
            "/auth/token", params={"service": SERVICE}, headers={"Authorization": header}
        )
        assert_error(response, 401, "UNAUTHORIZED")
        assert response.headers["WWW-Authenticate"] == 'Basic realm="cargohold"'


def test_account_must_match_the_credentials_and_service_is_given_once(stack: Stack) -> None:
    name = stack.user()
    mismatch = get_token(stack, auth=(name, PASSWORD), account="someone-else")
    assert_error(mismatch, 400, "TOKEN_REQUEST_INVALID")
    assert access_of(stack, get_token(stack, auth=(name, PASSWORD), account=name)) == []
    twice = stack.client.get("/auth/token", params=[("service", SERVICE), ("service", SERVICE)])
    assert_error(twice, 400, "TOKEN_REQUEST_INVALID")


# -- refresh tokens -------------------------------------------------------------------------


def test_offline_token_gives_a_refresh_token_that_gets_new_tokens(stack: Stack) -> None:
    name = stack.user(Role.DEVELOPER, "offline")
    first = get_token(stack, auth=(name, PASSWORD), offline_token="true", client_id="docker")
    refresh = first.json()["refresh_token"]
    assert refresh.startswith("chrt_") and len(refresh) > 40
    again = post_token(
        stack,
        grant_type="refresh_token",
        refresh_token=refresh,
        scope="repository:offline/app:pull,push,delete registry:catalog:*",
    )
    assert again.status_code == 200, again.text
    body = again.json()
    assert body["refresh_token"] == refresh  # the same one, as docker expects
    assert body["token_type"] == "Bearer" and body["expires_in"] >= 60
    assert body["scope"] == "repository:offline/app:pull,push registry:catalog:*"
    claims = claims_of(stack, body["access_token"])
    assert claims["sub"] == name
    assert claims["access"][0] == {
        "type": "repository",
        "name": "offline/app",
        "actions": ["pull", "push"],
    }


def test_post_password_grant_with_and_without_offline_access(stack: Stack) -> None:
    name = stack.user(Role.GUEST, "oauth")
    online = post_token(
        stack,
        grant_type="password",
        username=name,
        password=PASSWORD,
        scope="repository:oauth/app:pull,push",
    )
    assert online.status_code == 200, online.text
    assert "refresh_token" not in online.json()
    assert online.json()["scope"] == "repository:oauth/app:pull"
    assert online.headers["Cache-Control"] == "no-store"
    offline = post_token(
        stack, grant_type="password", username=name, password=PASSWORD, access_type="offline"
    )
    assert offline.json()["scope"] == ""
    refreshed = post_token(
        stack,
        grant_type="refresh_token",
        refresh_token=offline.json()["refresh_token"],
        scope="repository:oauth/app:pull",
    )
    assert refreshed.json()["scope"] == "repository:oauth/app:pull"


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        (
            {"grant_type": "password", "username": "x", "password": "y", "client_id": ""},
            400,
            "invalid_request",
        ),
        ({"grant_type": "password", "username": "x"}, 400, "invalid_request"),
        (
            {"grant_type": "password", "username": "x", "password": "y", "service": "other"},
            400,
            "invalid_request",
        ),
        (
            {
                "grant_type": "password",
                "username": "x",
                "password": "y",
                "access_type": "sometimes",
            },
            400,
            "invalid_request",
        ),
        ({"grant_type": "authorization_code", "code": "x"}, 400, "unsupported_grant_type"),
        ({"grant_type": "refresh_token", "refresh_token": "chrt_nothing"}, 400, "invalid_grant"),
        (
            {"grant_type": "refresh_token", "refresh_token": "x", "scope": "nope"},
            400,
            "invalid_scope",
        ),
        (
            {"grant_type": "password", "username": "nobody-x", "password": "guess"},
            400,
            "invalid_grant",
        ),
    ],
)
def test_post_errors_are_oauth2_errors(
    stack: Stack, form: dict[str, str], status: int, error: str
) -> None:
    assert_oauth_error(post_token(stack, **form), status, error)


def test_post_bodies_that_are_not_forms_are_invalid_requests(stack: Stack) -> None:
    as_json = stack.client.post("/auth/token", json={"grant_type": "password"})
    assert_oauth_error(as_json, 400, "invalid_request")
    repeated = stack.client.post(
        "/auth/token",
        content="grant_type=password&grant_type=refresh_token&service=cargohold&client_id=t",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_oauth_error(repeated, 400, "invalid_request")
    broken = stack.client.post(
        "/auth/token",
        content=b"grant_type=password&&password=%ff",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_oauth_error(broken, 400, "invalid_request")


def test_a_revoked_refresh_token_stops_working(stack: Stack) -> None:
    name = stack.user()
    refresh = get_token(stack, auth=(name, PASSWORD), offline_token="true").json()["refresh_token"]
    revoked = stack.client.post("/auth/revoke", data={"token": refresh})
    assert revoked.status_code == 200, revoked.text
    assert_oauth_error(
        post_token(stack, grant_type="refresh_token", refresh_token=refresh),
        400,
        "invalid_grant",
    )
    # RFC 7009: a token that is none of ours (or already revoked) is not an error.
    assert stack.client.post("/auth/revoke", data={"token": refresh}).status_code == 200
    assert stack.client.post("/auth/revoke", data={"token": "chrt_unknown"}).status_code == 200
    registry_token = get_token(stack).json()["token"]
    assert_oauth_error(
        stack.client.post("/auth/revoke", data={"token": registry_token}),
        400,
        "unsupported_token_type",
    )
    assert_oauth_error(stack.client.post("/auth/revoke", data={}), 400, "invalid_request")


def _refresh(stack: Stack, auth: tuple[str, str]) -> str:
    response = get_token(stack, auth=auth, offline_token="true")
    assert response.status_code == 200, response.text
    return str(response.json()["refresh_token"])


def _refresh_works(stack: Stack, refresh: str) -> bool:
    response = post_token(stack, grant_type="refresh_token", refresh_token=refresh)
    if response.status_code != 200:
        assert_oauth_error(response, 400, "invalid_grant")
    return response.status_code == 200


def test_refresh_tokens_end_with_their_holder(stack: Stack) -> None:
    access, now = stack.access, time.time()
    disabled, reset, deleted = stack.user(), stack.user(), stack.user()
    tokens = {name: _refresh(stack, (name, PASSWORD)) for name in (disabled, reset, deleted)}
    pat_owner = stack.user()
    _, pat = access.users.create_access_token(pat_owner, "ci", None, OPERATOR)
    by_pat = _refresh(stack, (pat_owner, pat))
    by_password = _refresh(stack, (pat_owner, PASSWORD))
    revoked_robot, revoked_secret = stack.robot({"ends": ("pull",)})
    refreshed_robot, refreshed_secret = stack.robot({"ends": ("pull",)})
    by_revoked = _refresh(stack, (revoked_robot, revoked_secret))
    by_refreshed = _refresh(stack, (refreshed_robot, refreshed_secret))
    assert all(_refresh_works(stack, t) for t in [*tokens.values(), by_pat, by_revoked])

    access.stores.users.set_flags(disabled, OPERATOR.as_actor(), now, disabled=True)
    access.users.reset_password(reset, None, OPERATOR)
    access.stores.users.delete(deleted, OPERATOR.as_actor(), now)
    access.users.delete_access_token(pat_owner, "ci", OPERATOR)
    access.robots.revoke(ROOT, revoked_robot)
    access.robots.refresh(ROOT, refreshed_robot)
    assert not any(
        _refresh_works(stack, t) for t in [*tokens.values(), by_pat, by_revoked, by_refreshed]
    )
    # What the deleted token obtained ended; what the password obtained did not.
    assert _refresh_works(stack, by_password)
    access.stores.users.set_flags(disabled, OPERATOR.as_actor(), now, disabled=False)
    assert _refresh_works(stack, tokens[disabled])


def test_a_refresh_token_from_an_expiring_robot_expires_with_it(stack: Stack) -> None:
    # Created a day and a half ago for two days: half a day left.
    name, secret = stack.robot(
        {"short": ("pull",)}, access=stack.access_at(-1.5 * 86400), expires_in_days=2
    )
    refresh = _refresh(stack, (name, secret))
    stored = stack.access.grants.refresh_tokens.of_subject(name)
    robot = stack.access.stores.robots.by_name(name)
    assert robot is not None and [t.expires_at for t in stored] == [robot.expires_at]
    assert _refresh_works(stack, refresh)


def test_a_refresh_token_signs_requests_as_its_holder_everywhere(stack: Stack) -> None:
    """What `docker login` keeps (its identitytoken) is a credential of its own: sent as Basic
    (with the holder's name, or none as BuildKit sends it) or as Bearer, it stands for its
    holder with the holder's roles as they are now, on the admin API as on /v2/."""
    name = stack.user(Role.MAINTAINER, "holders")
    refresh = _refresh(stack, (name, PASSWORD))
    for auth in ({"auth": (name, refresh)}, {"auth": ("", refresh)}):
        me = stack.client.get("/api/v1/users/me", **auth)  # type: ignore[arg-type]
        assert me.status_code == 200, me.text
        assert (me.json()["name"], me.json()["method"]) == (name, "refresh")
        assert me.json()["projects"][0]["role"] == "maintainer"
    bearer = {"Authorization": f"Bearer {refresh}"}
    assert stack.client.get("/api/v1/users/me", headers=bearer).json()["name"] == name
    tags = stack.client.get("/v2/holders/app/tags/list", headers=bearer)
    assert_error(tags, 404, "NAME_UNKNOWN")  # allowed to pull; nothing pushed
    # Another account's name with it, an unknown one, or a registry-token endpoint that would
    # mint a second refresh token: refused, or the same one handed back.
    other = stack.user()
    assert stack.client.get("/api/v1/users/me", auth=(other, refresh)).status_code == 401
    unknown = ("", "chrt_" + "A" * 43)
    assert stack.client.get("/api/v1/users/me", auth=unknown).status_code == 401
    again = get_token(stack, auth=(name, refresh), offline_token="true")
    assert again.status_code == 200, again.text
    assert again.json()["refresh_token"] == refresh
    # It ends as it does at the token endpoint: revoked, it is refused.
    assert stack.client.post("/auth/revoke", data={"token": refresh}).status_code == 200
    refused = stack.client.get("/api/v1/users/me", headers=bearer)
    assert refused.status_code == 401, refused.text
    assert refresh not in refused.text


# -- secrets stay secret ----------------------------------------------------------------------


def test_no_secret_reaches_the_log_or_the_audit(stack: Stack) -> None:
    name = stack.user(Role.DEVELOPER, "secrets")
    _, pat = stack.access.users.create_access_token(name, "leak-check", None, OPERATOR)
    robot, robot_secret = stack.robot({"secrets": ("pull",)})
    shown: list[str] = [PASSWORD, pat, robot_secret, stack.server.admin_password]
    for auth in ((name, PASSWORD), (name, pat), (robot, robot_secret)):
        body = get_token(
            stack, "repository:secrets/app:pull", auth=auth, offline_token="true"
        ).json()
        shown += [body["token"], body["refresh_token"]]
    form = post_token(
        stack, grant_type="password", username=name, password=PASSWORD, access_type="offline"
    ).json()
    shown += [form["access_token"], form["refresh_token"]]
    stack.client.post("/auth/revoke", data={"token": form["refresh_token"]})
    get_token(stack, auth=(name, "a wrong password that must not be logged"))
    shown.append("a wrong password that must not be logged")
    stack.server.stop()  # flushes the access log
    stack.server.start()
    log = stack.server.log_path.read_text()
    audit = repr(stack.access.stores.users.db.rows("SELECT * FROM audit_events"))
    assert "/auth/token" in log
    for secret in shown:
        assert secret not in log
        assert secret not in audit
    assert "refresh_token.create" in audit and "refresh_token.revoke" in audit


def test_tokens_live_at_least_a_minute(stack: Stack) -> None:
    assert get_token(stack).json()["expires_in"] >= 60
    assert (
        post_token(
            stack, grant_type="password", username="admin", password=stack.server.admin_password
        ).json()["expires_in"]
        >= 60
    )
