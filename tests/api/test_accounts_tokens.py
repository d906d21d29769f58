"""Personal access tokens over the admin API: a user makes, lists and deletes its own (the
token is shown once, never listed); system admins list and delete anyone's."""

from __future__ import annotations

import datetime as dt

import httpx

from tests.api.accounts_world import PASSWORD, World, unique, world_fixture  # noqa: F401
from tests.api.helpers import assert_error
from tests.support.accounts import Login


def test_a_user_makes_lists_uses_and_deletes_its_own_token(world: World) -> None:
    user = world.user()
    tokens = f"/api/v1/users/{user.name}/tokens"
    with world.as_(httpx.BasicAuth(user.name, PASSWORD)) as client:
        created = client.post(tokens, json={"name": "laptop", "expiresInDays": 90})
        assert created.status_code == 201, created.text
        body = created.json()
        secret = body["secret"]
        assert secret.startswith("chpat_")
        token = body["token"]
        assert (token["name"], token["owner"], token["expired"]) == ("laptop", user.name, False)
        lifetime = dt.datetime.fromisoformat(token["expiresAt"]) - dt.datetime.fromisoformat(
            token["createdAt"]
        )
        assert lifetime == dt.timedelta(days=90)
        assert token["lastUsedAt"] is None
    with world.as_(Login(user.name, secret)) as client:
        assert client.get("/v2/").status_code == 200
        listed = client.get(tokens)
        assert listed.status_code == 200
        assert secret not in listed.text and "secret" not in listed.text
        by_name = {t["name"]: t for t in listed.json()["tokens"]}
        assert set(by_name) == {"tests", "laptop"}
        assert by_name["laptop"]["lastUsedAt"] is not None
        assert by_name["tests"]["expiresAt"] is None  # no expiry given: never
        assert client.delete(f"{tokens}/laptop").status_code == 204
        assert_error(client.get("/v2/"), 401, "UNAUTHORIZED")
    with world.as_(user) as client:
        assert [t["name"] for t in client.get(tokens).json()["tokens"]] == ["tests"]
        assert_error(client.delete(f"{tokens}/laptop"), 404, "ACCESS_UNKNOWN")
    made = world.audit("token.create", user.name)
    assert [(e["actor"], e["detail"]["name"]) for e in made] == [
        (user.name, "laptop"),
        (user.name, "tests"),
    ]
    [deleted] = world.audit("token.delete", user.name)
    assert deleted["detail"] == {"name": "laptop"} and secret not in str(deleted)


def test_tokens_are_made_by_their_owner_only(world: World) -> None:
    user, other = world.user(), world.user()
    body = {"name": unique("t")}
    with world.as_(other) as client:
        assert_error(client.post(f"/api/v1/users/{user.name}/tokens", json=body), 403, "DENIED")
        assert_error(client.get(f"/api/v1/users/{user.name}/tokens"), 403, "DENIED")
        assert_error(client.delete(f"/api/v1/users/{user.name}/tokens/tests"), 403, "DENIED")
    # Not even a system admin makes a token that stands in for someone else's password.
    refused = world.admin.post(f"/api/v1/users/{user.name}/tokens", json=body)
    assert_error(refused, 403, "DENIED")
    [denied] = world.denials("token.create", user.name)
    assert denied["actor"] == "admin" and "its owner" in denied["detail"]["reason"]


def test_a_system_admin_lists_and_deletes_anyones_tokens(world: World) -> None:
    user = world.user()
    tokens = f"/api/v1/users/{user.name}/tokens"
    assert [t["name"] for t in world.admin.get(tokens).json()["tokens"]] == ["tests"]
    assert world.admin.delete(f"{tokens}/tests").status_code == 204
    with world.as_(user) as client:
        assert_error(client.get("/v2/"), 401, "UNAUTHORIZED")
    assert world.admin.get(tokens).json()["tokens"] == []
    [deleted] = world.audit("token.delete", user.name)
    assert deleted["actor"] == "admin"
    assert_error(world.admin.get("/api/v1/users/nobody-here/tokens"), 404, "ACCESS_UNKNOWN")


def test_bad_token_requests(world: World) -> None:
    user = world.user()
    tokens = f"/api/v1/users/{user.name}/tokens"
    with world.as_(user) as client:
        for body, status, code in (
            ({"name": "tests"}, 409, "ACCESS_EXISTS"),
            ({"name": ""}, 400, "ACCESS_INVALID"),
            ({"name": "x" * 101}, 400, "ACCESS_INVALID"),
            ({"name": "x", "expiresInDays": 0}, 400, "ACCESS_INVALID"),
            ({"name": "x", "expiresInDays": "never"}, 400, "ACCESS_INVALID"),
            ({"name": "x", "scopes": []}, 400, "ACCESS_INVALID"),
        ):
            assert_error(client.post(tokens, json=body), status, code)


def test_a_registry_token_manages_no_tokens(world: World) -> None:
    """A registry token allows repository actions only, whoever its subject is."""
    user = world.user()
    issued = httpx.get(
        f"{world.server.url}/auth/token", params={"service": "cargohold"}, auth=user.auth
    )
    bearer = {"Authorization": f"Bearer {issued.json()['token']}"}
    with world.as_(None) as client:
        tokens = f"/api/v1/users/{user.name}/tokens"
        assert_error(client.get(tokens, headers=bearer), 403, "DENIED")
        assert_error(client.post(tokens, json={"name": "x"}, headers=bearer), 403, "DENIED")
        me = client.get("/api/v1/users/me", headers=bearer).json()
        assert (me["name"], me["method"]) == (user.name, "bearer")
