"""Attacks on the credentials every route takes, over HTTP: forged, stale or tampered registry
tokens, tokens of accounts that were shut out since, garbage and oversized Authorization
headers. Each is refused with the documented answer (docs/security.md): 401 with
`error="invalid_token"` in the token flow's challenge on /v2/, 401 with the Basic challenge on
the admin API, never a 500."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from cargohold.api.credentials import MAX_AUTHORIZATION_LENGTH
from cargohold.policy.permissions import Role
from cargohold.policy.scopes import ResourceScope
from cargohold.services.token_keys import SigningKey
from cargohold.wiring_access import token_service
from tests.api.helpers import assert_error
from tests.support.accounts import (
    Accounts,
    Login,
    failed_login_env,
    registry_token,
    server_with_accounts,
)
from tests.support.oci import push_image
from tests.support.postgres import PostgresServer
from tests.support.server import CargoholdServer

PASSWORD = "correct horse battery"
PULL_APP = [{"type": "repository", "name": "team/app", "actions": ["pull"]}]
MANIFEST = "/v2/team/app/manifests/v1"
ADMIN_API = "/api/v1/repositories/team/app/tags"


class World:
    def __init__(self, server: CargoholdServer, accounts: Accounts) -> None:
        self.server = server
        self.accounts = accounts
        admin = server.client()
        accounts.project("team", public=False)
        push_image(admin, "team/app", "v1")
        admin.close()
        accounts.user("dev", PASSWORD)
        accounts.member("team", "dev", Role.DEVELOPER)
        self.key: SigningKey = token_service(server.settings()).keys.current()
        self.client = httpx.Client(base_url=server.url, timeout=60)

    def claims(self, **changes: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {
            "iss": "cargohold",
            "sub": "dev",
            "aud": "cargohold",
            "exp": now + 300,
            "nbf": now,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": PULL_APP,
        }
        claims.update(changes)
        return claims

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        """Claims signed with the server's own key (ES256), under its `kid` unless told."""
        return jwt.encode(
            claims,
            self.key.private_key,
            algorithm="ES256",
            headers={"kid": self.key.kid, "typ": "JWT", **header},
        )

    def get(self, path: str, authorization: str) -> httpx.Response:
        return self.client.get(path, headers={"Authorization": authorization})


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data_dir = tmp_path_factory.mktemp("attacks") / "data"
    with server_with_accounts(data_dir, account_lockout=3) as (server, accounts):
        built = World(server, accounts)
        yield built
        built.client.close()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    return (
        f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}.{_b64(signature)}"
    )


def _assert_invalid_token(world: World, token: str) -> None:
    registry = world.get(MANIFEST, f"Bearer {token}")
    assert_error(registry, 401, "UNAUTHORIZED")
    challenge = registry.headers["WWW-Authenticate"]
    assert challenge.startswith(f'Bearer realm="{world.server.url}/auth/token",')
    assert challenge.endswith(',scope="repository:team/app:pull",error="invalid_token"')
    admin_api = world.get(ADMIN_API, f"Bearer {token}")
    assert_error(admin_api, 401, "UNAUTHORIZED")
    assert admin_api.headers["WWW-Authenticate"] == 'Basic realm="cargohold"'


# -- forged and stale registry tokens --------------------------------------------------------


def test_a_genuine_token_is_served(world: World) -> None:
    """The baseline every attack below changes one thing of."""
    token = world.sign(world.claims())
    assert world.get(MANIFEST, f"Bearer {token}").status_code == 200
    assert world.get(ADMIN_API, f"Bearer {token}").status_code == 200


def test_alg_none_is_refused(world: World) -> None:
    for alg in ("none", "None", "NONE"):
        token = _unsigned({"alg": alg, "typ": "JWT", "kid": world.key.kid}, world.claims())
        _assert_invalid_token(world, token)


def test_hs256_signed_with_the_public_key_is_refused(world: World) -> None:
    """The classic key confusion: the public key, which anyone may hold, as an HMAC secret."""
    public = world.key.private_key.public_key()
    for encoding, form in (
        (serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo),
        (serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint),
    ):
        secret = public.public_bytes(encoding, form)
        header = {"alg": "HS256", "typ": "JWT", "kid": world.key.kid}
        signing_input = _unsigned(header, world.claims()).rsplit(".", 1)[0]
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        token = f"{signing_input}.{_b64(mac)}"
        _assert_invalid_token(world, token)


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"exp": int(time.time()) - 1}, id="expired"),
        pytest.param({"nbf": int(time.time()) + 3600}, id="nbf-in-the-future"),
        pytest.param({"iat": int(time.time()) + 3600}, id="issued-in-the-future"),
        pytest.param({"aud": "another-registry"}, id="other-audience"),
        pytest.param({"aud": ["another-registry"]}, id="other-audience-list"),
        pytest.param({"iss": "someone-else"}, id="other-issuer"),
        pytest.param({"exp": "soon"}, id="exp-not-a-number"),
        pytest.param({"exp": str(int(time.time()) + 300)}, id="exp-a-string"),
        pytest.param({"exp": float("nan")}, id="exp-nan"),
        pytest.param({"exp": float("inf")}, id="exp-infinite"),
        pytest.param({"nbf": float("nan")}, id="nbf-nan"),
        pytest.param({"iat": True}, id="iat-a-boolean"),
        pytest.param({"jti": 7}, id="jti-not-a-string"),
        pytest.param({"access": "repository:team/app:pull"}, id="access-not-a-list"),
        pytest.param({"access": [{"type": "repository"}]}, id="access-entry-incomplete"),
        pytest.param({"sub": 42}, id="subject-not-a-string"),
    ],
)
def test_claims_the_server_would_not_issue_are_refused(
    world: World, changes: dict[str, Any]
) -> None:
    """Signed with the server's own key, so only the claim is wrong."""
    _assert_invalid_token(world, world.sign(world.claims(**changes)))


@pytest.mark.parametrize("claim", ["iss", "sub", "aud", "exp", "nbf", "iat", "jti", "access"])
def test_a_token_missing_a_claim_is_refused(world: World, claim: str) -> None:
    claims = world.claims()
    del claims[claim]
    _assert_invalid_token(world, world.sign(claims))


def test_a_token_expired_by_the_servers_own_clock_is_refused(world: World) -> None:
    access = [ResourceScope("repository", "team/app", ("pull",))]
    token = registry_token(world.server, "dev", access, clock=lambda: time.time() - 3600)
    _assert_invalid_token(world, token)


def test_a_token_already_accepted_is_refused_once_it_expires(world: World) -> None:
    """A token sent again by the same client is recognised without a second check, but
    only while it lives."""
    expires = int(time.time()) + 2
    token = world.sign(world.claims(exp=expires))
    for _ in range(3):
        assert world.get(MANIFEST, f"Bearer {token}").status_code == 200
    time.sleep(max(0.0, expires - time.time()) + 0.3)
    _assert_invalid_token(world, token)


def test_an_unknown_kid_or_another_key_is_refused(world: World) -> None:
    stranger = ec.generate_private_key(ec.SECP256R1())
    claims = world.claims()
    for token in (
        world.sign(claims, kid="AAAA:BBBB:CCCC:DDDD:EEEE:FFFF:GGGG:HHHH:IIII:JJJJ:KKKK:LLLL"),
        jwt.encode(claims, world.key.private_key, algorithm="ES256"),  # no kid at all
        _unsigned({"alg": "ES256", "kid": ["a", "list"]}, claims, b"not a signature"),
        # Another key under the server's kid: the signature does not verify.
        jwt.encode(claims, stranger, algorithm="ES256", headers={"kid": world.key.kid}),
    ):
        _assert_invalid_token(world, token)


def test_a_payload_changed_under_a_known_signature_is_refused(world: World) -> None:
    genuine = world.sign(world.claims())
    # Verified once: its verdict is now cached under its signature.
    assert world.get(MANIFEST, f"Bearer {genuine}").status_code == 200
    header, payload, signature = genuine.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    for widened in (
        {**claims, "access": [{"type": "repository", "name": "team/app", "actions": ["*"]}]},
        {**claims, "sub": "admin"},
        {**claims, "exp": claims["exp"] + 86400},
    ):
        _assert_invalid_token(world, f"{header}.{_b64(json.dumps(widened).encode())}.{signature}")
    # The changed header with the genuine payload and signature: refused as well.
    _assert_invalid_token(
        world, _unsigned({"alg": "ES256", "kid": world.key.kid, "x": 1}, claims) + signature
    )


def test_a_token_for_another_repository_asks_for_the_right_scope(world: World) -> None:
    """A valid token that does not name this repository is not invalid: 401 naming the
    scope to fetch (insufficient_scope) on /v2/, 403 on the admin API."""
    other = [{"type": "repository", "name": "team/other", "actions": ["pull", "push"]}]
    token = world.sign(world.claims(access=other))
    registry = world.get(MANIFEST, f"Bearer {token}")
    assert_error(registry, 401, "UNAUTHORIZED")
    assert registry.headers["WWW-Authenticate"].endswith(
        ',scope="repository:team/app:pull",error="insufficient_scope",'
        'error_description="requested access to the resource is denied"'
    )
    assert_error(world.get(ADMIN_API, f"Bearer {token}"), 403, "DENIED")
    # A registry-type entry under the repository's name is not a repository grant.
    confused = [{"type": "registry", "name": "team/app", "actions": ["pull"]}]
    refused = world.get(MANIFEST, f"Bearer {world.sign(world.claims(access=confused))}")
    assert refused.status_code == 401
    assert "insufficient_scope" in refused.headers["WWW-Authenticate"]


# -- tokens of accounts shut out since ------------------------------------------------------


def _stops_pulling(world: World, path: str, token: str, seconds: float = 15.0) -> httpx.Response:
    """The answer to the token's GET of `path` once it no longer pulls it: every server
    process reads revocations every 2 s."""
    deadline = time.monotonic() + seconds
    while (answer := world.get(path, f"Bearer {token}")).status_code == 200:
        assert time.monotonic() < deadline, f"the token still pulls {path}"
        time.sleep(0.2)
    return answer


def _refused_within(world: World, token: str) -> None:
    """The token stops counting at all: its next request is refused as an invalid token."""
    refused = _stops_pulling(world, MANIFEST, token)
    assert_error(refused, 401, "UNAUTHORIZED")
    assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]


def _pull_token(
    world: World, login: Login, repository: str = "team/app", pulls: bool = True
) -> str:
    """A registry token for pulling the repository, from the token endpoint; it pulls the
    repository's `v1` (or, not `pulls`, gets 401)."""
    issued = world.client.get(
        "/auth/token",
        params={"service": "cargohold", "scope": f"repository:{repository}:pull"},
        auth=login.auth,
    )
    assert issued.status_code == 200, issued.text
    token = str(issued.json()["token"])
    answer = world.get(f"/v2/{repository}/manifests/v1", f"Bearer {token}")
    assert answer.status_code == (200 if pulls else 401), answer.text
    return token


def test_a_token_stops_counting_once_its_subject_is_shut_out(world: World) -> None:
    """A registry token issued before its user was disabled or its robot revoked is refused
    within seconds on every server process, as are new logins; the catalog, which lists what
    the subject may pull now, shows them nothing private."""
    accounts = world.accounts
    accounts.user("leaver", PASSWORD)
    accounts.member("team", "leaver", Role.DEVELOPER)
    leaver = accounts.token("leaver")
    robot = accounts.robot("gone", {"team": ("pull",)})
    tokens = {login.name: _pull_token(world, login) for login in (leaver, robot)}
    accounts.disable("leaver")
    accounts.revoke(robot)
    time.sleep(2.1)  # a token signed below must come after the change and its grace
    catalog = [{"type": "registry", "name": "catalog", "actions": ["*"]}]
    for login in (leaver, robot):
        _refused_within(world, tokens[login.name])
        assert world.client.get(MANIFEST, auth=login.auth).status_code == 401
        refused = world.client.get("/auth/token", params={"service": "cargohold"}, auth=login.auth)
        assert_error(refused, 401, "UNAUTHORIZED")
        listed = world.get(
            "/v2/_catalog", f"Bearer {world.sign(world.claims(sub=login.name, access=catalog))}"
        )
        assert listed.json()["repositories"] == []


def test_a_token_stops_counting_when_its_subject_loses_rights_and_a_new_one_counts(
    world: World,
) -> None:
    """Removed from the project, or a robot given a new secret: the tokens issued before stop
    counting; one issued after the change counts (what it allows is worked out anew)."""
    accounts = world.accounts
    accounts.user("mover", PASSWORD)
    accounts.member("team", "mover", Role.DEVELOPER)
    mover = accounts.token("mover", name="moving")
    before = _pull_token(world, mover)
    accounts.remove_member("team", "mover")
    _refused_within(world, before)
    accounts.member("team", "mover", Role.GUEST)
    robot = accounts.robot("rotated", {"team": ("pull",)})
    old = _pull_token(world, robot)
    rotated = accounts.refresh(robot)
    _refused_within(world, old)
    time.sleep(2.1)  # tokens carry whole seconds, and one within a second after is refused
    _pull_token(world, mover)
    _pull_token(world, rotated)


def test_a_token_stops_counting_when_its_role_or_access_token_goes(world: World) -> None:
    """A role changed in a project, or the personal access token that obtained a registry token
    deleted: the subject's tokens issued before stop counting."""
    accounts = world.accounts
    accounts.user("changer", PASSWORD)
    accounts.member("team", "changer", Role.DEVELOPER)
    token = _pull_token(world, accounts.token("changer", name="first"))
    accounts.member("team", "changer", Role.GUEST)
    _refused_within(world, token)
    time.sleep(2.1)
    second = accounts.token("changer", name="second")
    token = _pull_token(world, second)
    accounts.delete_token("changer", "second")
    _refused_within(world, token)


def _anonymous_pull_token(world: World, repository: str) -> str:
    issued = world.client.get(
        "/auth/token", params={"service": "cargohold", "scope": f"repository:{repository}:pull"}
    )
    assert issued.status_code == 200, issued.text
    return str(issued.json()["token"])


def test_anonymous_tokens_stop_pulling_from_a_project_made_private(world: World) -> None:
    """A project made private through the admin API: the anonymous tokens issued while it was
    public stop pulling from it within seconds on every server process (401 asking for a
    token that allows it, which an anonymous caller no longer gets), while they keep pulling
    from the other public projects; saying private again, or public, takes nothing away."""
    world.accounts.project("shop", public=True)
    world.accounts.project("fair", public=True)
    admin = world.server.client()
    try:
        for repository in ("shop/app", "fair/app"):
            push_image(admin, repository, "v1")
        shop, fair = "/v2/shop/app/manifests/v1", "/v2/fair/app/manifests/v1"
        shop_token = _anonymous_pull_token(world, "shop/app")
        fair_token = _anonymous_pull_token(world, "fair/app")
        unchanged = admin.patch("/api/v1/projects/shop", json={"public": True})
        assert unchanged.status_code == 200, unchanged.text
        made_private = admin.patch("/api/v1/projects/shop", json={"public": False})
        assert made_private.status_code == 200, made_private.text
        assert made_private.json()["public"] is False
        refused = _stops_pulling(world, shop, shop_token)
        assert_error(refused, 401, "UNAUTHORIZED")
        assert refused.headers["WWW-Authenticate"].endswith(
            ',scope="repository:shop/app:pull",error="insufficient_scope",'
            'error_description="authentication required: anonymous access allows only pulls'
            ' from public projects"'
        )
        anew = _anonymous_pull_token(world, "shop/app")
        assert world.get(shop, f"Bearer {anew}").status_code == 401
        assert world.get(fair, f"Bearer {fair_token}").status_code == 200
        # A member's token is not an anonymous one: the team's developer pulls on.
        assert world.get(MANIFEST, f"Bearer {world.sign(world.claims())}").status_code == 200
        again = admin.patch("/api/v1/projects/shop", json={"public": False})
        assert again.status_code == 200, again.text
        reopened = admin.patch("/api/v1/projects/shop", json={"public": True})
        assert reopened.status_code == 200, reopened.text
        time.sleep(2.1)  # a token signed below must come after the change and its grace
        after = _anonymous_pull_token(world, "shop/app")
        assert world.get(shop, f"Bearer {after}").status_code == 200
    finally:
        admin.close()


def test_signed_in_non_members_stop_pulling_from_a_project_made_private(world: World) -> None:
    """A project made private: the tokens of signed-in callers who had pull there only because
    it was public (no role, no robot scope) stop pulling from it within seconds, as an
    anonymous token does, mounts from it included; a member's token, a scoped robot's and a
    system admin's pull on, and a new token for the outsider carries no pull there. The
    outsider's old token pulls again once it may: made a member, or the project public."""
    world.accounts.project("bazaar", public=True)
    admin = world.server.client()
    try:
        layer = json.loads(push_image(admin, "bazaar/app", "v1")[1])["layers"][0]["digest"]
        world.accounts.project("stall", public=False)
        world.accounts.user("visitor", PASSWORD)
        world.accounts.member("stall", "visitor", Role.DEVELOPER)
        world.accounts.user("keeper", PASSWORD)
        world.accounts.member("bazaar", "keeper", Role.GUEST)
        robot = world.accounts.robot("robot$bazaar-reader", {"bazaar": ("pull",)})
        manifest, tags = "/v2/bazaar/app/manifests/v1", "/v2/bazaar/app/tags/list"
        visitor = _pull_token(world, Login("visitor", PASSWORD), "bazaar/app")
        keeper = _pull_token(world, Login("keeper", PASSWORD), "bazaar/app")
        reader = _pull_token(world, robot, "bazaar/app")
        server = world.server
        system = _pull_token(world, Login(server.admin_user, server.admin_token), "bazaar/app")
        # The visitor's push into its own project, able to mount from the public one.
        mounting = world.client.get(
            "/auth/token",
            params=[
                ("service", "cargohold"),
                ("scope", "repository:stall/app:pull,push"),
                ("scope", "repository:bazaar/app:pull"),
            ],
            auth=Login("visitor", PASSWORD).auth,
        ).json()["token"]
        mount = f"/v2/stall/app/blobs/uploads/?mount={layer}&from=bazaar/app"
        made_private = admin.patch("/api/v1/projects/bazaar", json={"public": False})
        assert made_private.status_code == 200, made_private.text
        _stops_pulling(world, manifest, visitor)
        for path in (manifest, tags):
            refused = world.get(path, f"Bearer {visitor}")
            assert_error(refused, 401, "UNAUTHORIZED")
            assert refused.headers["WWW-Authenticate"].endswith(
                ',scope="repository:bazaar/app:pull",error="insufficient_scope",'
                'error_description="requested access to the resource is denied"'
            )
        # A mount from there is a source it may no longer pull from: an upload starts instead.
        refused_mount = world.client.post(mount, headers={"Authorization": f"Bearer {mounting}"})
        assert refused_mount.status_code == 202, refused_mount.text
        for token in (keeper, reader, system):
            assert world.get(manifest, f"Bearer {token}").status_code == 200
            assert world.get(tags, f"Bearer {token}").json()["tags"] == ["v1"]
        _pull_token(world, Login("visitor", PASSWORD), "bazaar/app", pulls=False)
        assert admin.get(manifest).status_code == 200
        # A refusal is not kept: made a member, the outsider's old token pulls again.
        world.accounts.member("bazaar", "visitor", Role.GUEST)
        assert world.get(manifest, f"Bearer {visitor}").status_code == 200
        # And any old token pulls again from the project made public again.
        world.accounts.project("arcade", public=True)
        push_image(admin, "arcade/app", "v1")
        passer = _pull_token(world, Login("visitor", PASSWORD), "arcade/app")
        made_private = admin.patch("/api/v1/projects/arcade", json={"public": False})
        assert made_private.status_code == 200, made_private.text
        arcade = "/v2/arcade/app/manifests/v1"
        assert_error(_stops_pulling(world, arcade, passer), 401, "UNAUTHORIZED")
        reopened = admin.patch("/api/v1/projects/arcade", json={"public": True})
        assert reopened.status_code == 200, reopened.text
        assert world.get(arcade, f"Bearer {passer}").status_code == 200
    finally:
        admin.close()


def test_tokens_of_a_deleted_public_project_do_not_pull_from_its_successor(
    world: World,
) -> None:
    """A public project deleted and made again, private, under the same name: the tokens that
    pulled from the old one because it was public, anonymous or signed in, do not pull the
    new one's images."""
    world.accounts.project("kiosk", public=True)
    world.accounts.user("walker", PASSWORD)
    admin = world.server.client()
    try:
        digest = push_image(admin, "kiosk/app", "v1")[0]
        anonymous = _anonymous_pull_token(world, "kiosk/app")
        walker = _pull_token(world, Login("walker", PASSWORD), "kiosk/app")
        removed = admin.delete(f"/v2/kiosk/app/manifests/{digest}")
        assert removed.status_code == 202, removed.text
        deleted = admin.delete("/api/v1/projects/kiosk")
        assert deleted.status_code == 204, deleted.text
        world.accounts.project("kiosk", public=False)
        push_image(admin, "kiosk/app", "v1")
        manifest = "/v2/kiosk/app/manifests/v1"
        for token in (anonymous, walker):
            assert_error(_stops_pulling(world, manifest, token), 401, "UNAUTHORIZED")
        assert admin.get(manifest).status_code == 200
    finally:
        admin.close()


# -- garbage and oversized headers -----------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "Bearer a.b.c",
        "Bearer ...",
        "Bearer eyJ9.eyJ9.eyJ9",
        "Bearer " + "x" * 200,
        "Bearer " + _b64(b"\xff" * 30) + "." + _b64(b"{}") + ".",
        "Bearer e30.e30.e30",  # {} . {} . {}
        "Bearer W10.W10.",  # [] . []
    ],
)
def test_garbage_bearer_tokens_are_invalid_tokens(world: World, value: str) -> None:
    _assert_invalid_token(world, value.removeprefix("Bearer "))


@pytest.mark.parametrize(
    "value",
    [
        "Bearer " + "x" * (MAX_AUTHORIZATION_LENGTH + 1),
        "Basic " + base64.b64encode(b"dev:" + b"p" * MAX_AUTHORIZATION_LENGTH).decode(),
        "Negotiate abc",
        "Bearer",
    ],
)
def test_malformed_or_oversized_headers_are_refused_before_any_check(
    world: World, value: str
) -> None:
    for path in (MANIFEST, ADMIN_API, "/auth/token"):
        response = world.client.get(path, headers={"Authorization": value})
        assert response.status_code == 401, (path, response.status_code, response.text)
        assert "WWW-Authenticate" in response.headers
    registry = world.client.get(MANIFEST, headers={"Authorization": value})
    assert registry.headers["WWW-Authenticate"].endswith(',error="invalid_request"')


def test_headers_far_past_the_limit_never_reach_a_500(world: World) -> None:
    """A megabyte of header: the HTTP server or the check refuses it, with a 4xx (or by
    closing the connection), never with a 500."""
    huge = "Basic " + base64.b64encode(b"dev:" + b"p" * (1 << 20)).decode()
    for value in (huge, "Bearer \x01\x02", "Bearer " + "x" * (1 << 20)):
        try:
            response = world.client.get(MANIFEST, headers={"Authorization": value})
        except httpx.TransportError:
            continue  # refused by closing the connection
        assert 400 <= response.status_code < 500, response.status_code
    assert world.client.get(MANIFEST, auth=Login("dev", PASSWORD).auth).status_code == 200


def test_a_huge_password_is_not_checked(world: World, tmp_path: Path) -> None:
    """The Authorization header is bounded (16 KiB) before it is decoded, so a huge password
    costs no argon2 check: it is not even counted as a failed login. The account locks after
    three failures here; many oversized attempts leave it usable."""
    accounts = world.accounts
    accounts.user("bounded", PASSWORD)
    huge = base64.b64encode(b"bounded:" + b"p" * (MAX_AUTHORIZATION_LENGTH * 4)).decode()
    for _ in range(5):
        response = world.client.get(MANIFEST, headers={"Authorization": f"Basic {huge}"})
        assert_error(response, 401, "UNAUTHORIZED")
    form = {
        "grant_type": "password",
        "service": "cargohold",
        "client_id": "attack",
        "username": "bounded",
        "password": "p" * (1 << 20),
    }
    posted = world.client.post("/auth/token", data=form)
    assert posted.status_code == 413, posted.text
    assert world.client.get("/v2/", auth=Login("bounded", PASSWORD).auth).status_code == 200


# -- names no account or project can have -----------------------------------------------------

NUL_NAMES = ("a\x00b", "robot$ci\x00", "dev\x01", "x" * 300)
NUL_PATHS = (
    "/v2/te%00am/app/manifests/v1",
    "/api/v1/repositories/te%00am/app/tags",
    "/api/v1/projects/te%00am/quota",
    "/api/v1/vulnerabilities/overdue?project=te%00am",
    "/auth/token?scope=repository:te%00am/app:pull",
)


def _impossible_names_are_refused(server: CargoholdServer) -> None:
    """Names arrive in the Authorization header, the token form and the path before anything
    validates them; a NUL (which PostgreSQL text cannot hold) or a control character is
    refused or taken as nobody's, never a 500."""
    with httpx.Client(base_url=server.url, timeout=60) as client:
        for name in NUL_NAMES:
            for secret in (PASSWORD, "chpat_" + "x" * 43):
                for path in ("/v2/", "/auth/token", ADMIN_API):
                    response = client.get(path, auth=(name, secret))
                    assert_error(response, 401, "UNAUTHORIZED")
            form = {
                "grant_type": "password",
                "service": "cargohold",
                "client_id": "attack",
                "username": name,
                "password": PASSWORD,
            }
            posted = client.post("/auth/token", data=form)
            assert posted.status_code == 400 and posted.json()["error"] == "invalid_grant"
        for path in NUL_PATHS:
            for auth in (None, server.admin_auth):
                response = client.get(path, auth=auth)
                assert response.status_code < 500, (path, response.status_code, response.text)
        # The audit trail still takes entries (a refused login is noted under a printable name).
        assert client.get("/api/v1/audit", auth=server.admin_auth).status_code == 200


def test_impossible_names_are_refused_on_sqlite(world: World) -> None:
    _impossible_names_are_refused(world.server)


def test_impossible_names_are_refused_on_postgresql(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    server = CargoholdServer(
        tmp_path / "data",
        database_url=postgres.create_database(f"attacks_{uuid.uuid4().hex[:8]}"),
        extra_env=failed_login_env(account_lockout=3),
    ).start()
    try:
        _impossible_names_are_refused(server)
    finally:
        server.stop()
    # A clean stop writes the refused logins it noted: under names the store can hold.
    log = server.log_path.read_text()
    assert "Traceback" not in log, log[-2000:]


def test_an_upload_session_is_reached_only_through_its_own_repository(world: World) -> None:
    """A token (or role) with push on one repository cannot write into, finish, read or
    cancel an upload session of another by putting its id under its own repository's path."""
    with world.server.client() as admin:
        started = admin.post("/v2/team/secret/blobs/uploads/")
        assert started.status_code == 202, started.text
    session = started.headers["Location"].rsplit("/", 1)[-1]
    push = [{"type": "repository", "name": "team/app", "actions": ["pull", "push"]}]
    bearer = {"Authorization": f"Bearer {world.sign(world.claims(access=push))}"}
    path = f"/v2/team/app/blobs/uploads/{session}"
    for method in ("GET", "PATCH", "PUT", "DELETE"):
        response = world.client.request(method, path, headers=bearer, content=b"x")
        assert_error(response, 404, "BLOB_UPLOAD_UNKNOWN")
    with world.server.client() as admin:
        assert admin.get(f"/v2/team/secret/blobs/uploads/{session}").status_code == 204
