"""Users over the admin API: system admins manage them, each user reads itself and changes its
own password with the old one, and every change is in the audit log."""

from __future__ import annotations

import httpx

from tests.api.accounts_world import PASSWORD, World, unique, world_fixture  # noqa: F401
from tests.api.helpers import assert_error


def test_a_system_admin_creates_reads_changes_and_deletes_a_user(world: World) -> None:
    name = unique("alice")
    created = world.admin.post("/api/v1/users", json={"name": name, "password": PASSWORD})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["password"] is None  # given, so not answered back
    assert body["user"]["name"] == name
    assert body["user"]["systemAdmin"] is False and body["user"]["disabled"] is False
    assert body["user"]["createdAt"].endswith("Z")
    assert "passwordHash" not in body["user"] and PASSWORD not in created.text

    listed = world.admin.get("/api/v1/users").json()["users"]
    assert name in [u["name"] for u in listed]
    assert world.admin.get(f"/api/v1/users/{name}").json()["name"] == name

    promoted = world.admin.patch(f"/api/v1/users/{name}", json={"systemAdmin": True})
    assert promoted.status_code == 200 and promoted.json()["systemAdmin"] is True
    disabled = world.admin.patch(f"/api/v1/users/{name}", json={"disabled": True})
    assert disabled.json()["disabled"] is True and disabled.json()["systemAdmin"] is True
    with world.as_(httpx.BasicAuth(name, PASSWORD)) as alice:
        assert_error(alice.get("/v2/"), 401, "UNAUTHORIZED")

    assert world.admin.delete(f"/api/v1/users/{name}").status_code == 204
    assert_error(world.admin.get(f"/api/v1/users/{name}"), 404, "ACCESS_UNKNOWN")
    assert_error(world.admin.delete(f"/api/v1/users/{name}"), 404, "ACCESS_UNKNOWN")

    [create] = world.audit("user.create", name)
    assert (create["actor"], create["result"]) == ("admin", "ok")
    assert create["detail"] == {"system_admin": False}
    updates = world.audit("user.update", name)
    assert [e["detail"] for e in updates] == [{"disabled": True}, {"system_admin": True}]
    [delete] = world.audit("user.delete", name)
    assert delete["actor"] == "admin" and delete["method"] == "token"


def test_a_user_without_a_password_gets_a_generated_one_once(world: World) -> None:
    name = unique("gen")
    created = world.admin.post("/api/v1/users", json={"name": name, "systemAdmin": True})
    assert created.status_code == 201, created.text
    password = created.json()["password"]
    assert isinstance(password, str) and len(password) >= 16
    with world.as_(httpx.BasicAuth(name, password)) as generated:
        assert generated.get("/api/v1/users").status_code == 200  # a system admin
    assert password not in world.admin.get(f"/api/v1/users/{name}").text


def test_only_system_admins_manage_users(world: World) -> None:
    user = world.user()
    other = world.user()
    with world.as_(user) as client:
        for method, path, body in (
            ("GET", "/api/v1/users", None),
            ("POST", "/api/v1/users", {"name": unique("x"), "password": PASSWORD}),
            ("GET", f"/api/v1/users/{other.name}", None),
            ("PATCH", f"/api/v1/users/{user.name}", {"systemAdmin": True}),
            ("DELETE", f"/api/v1/users/{other.name}", None),
        ):
            assert_error(client.request(method, path, json=body), 403, "DENIED")
        # Its own record, though, it may read.
        assert client.get(f"/api/v1/users/{user.name}").json()["name"] == user.name
    with world.as_(None) as anonymous:
        response = anonymous.get("/api/v1/users")
        assert_error(response, 401, "UNAUTHORIZED")
        assert response.headers["WWW-Authenticate"] == 'Basic realm="cargohold"'
        assert_error(anonymous.get("/api/v1/users/me"), 401, "UNAUTHORIZED")


def test_bad_user_requests_get_clear_400s(world: World) -> None:
    taken = world.user().name
    for body, words in (
        ({"name": taken, "password": PASSWORD}, None),
        ({"name": "Bad Name", "password": PASSWORD}, "invalid user name"),
        ({"name": "robot$x", "password": PASSWORD}, "invalid user name"),
        ({"name": "me", "password": PASSWORD}, "reserved"),
        ({"name": unique("short"), "password": "short"}, "at least 8 characters"),
        ({"name": unique("x"), "password": PASSWORD, "admin": True}, "unknown field `admin`"),
        ({"name": unique("x"), "systemAdmin": "yes"}, "$.systemAdmin"),
        ({"password": PASSWORD}, "missing required field `name`"),
        ([], "Expected `object`"),
    ):
        response = world.admin.post("/api/v1/users", json=body)
        if words is None:
            assert_error(response, 409, "ACCESS_EXISTS")
            continue
        assert_error(response, 400, "ACCESS_INVALID")
        assert words in response.json()["errors"][0]["message"], (body, response.text)
    not_json = world.admin.post("/api/v1/users", content=b"{name: 1}")
    assert_error(not_json, 400, "ACCESS_INVALID")
    duplicate_keys = world.admin.post("/api/v1/users", content=b'{"name": "a", "name": "b"}')
    assert_error(duplicate_keys, 400, "ACCESS_INVALID")
    empty_change = world.admin.patch(f"/api/v1/users/{taken}", json={})
    assert_error(empty_change, 400, "ACCESS_INVALID")
    assert_error(
        world.admin.patch("/api/v1/users/nobody-here", json={"disabled": True}),
        404,
        "ACCESS_UNKNOWN",
    )


def test_a_system_admin_cannot_demote_disable_or_delete_itself(world: World) -> None:
    for method, body in (
        ("PATCH", {"systemAdmin": False}),
        ("PATCH", {"disabled": True}),
        ("DELETE", None),
    ):
        response = world.admin.request(method, "/api/v1/users/admin", json=body)
        assert_error(response, 400, "ACCESS_INVALID")
    assert world.admin.get("/api/v1/users/admin").json()["systemAdmin"] is True


def test_who_am_i_shows_roles_and_scopes(world: World) -> None:
    project = world.project()
    user = world.user()
    world.member(project, user.name, "developer")
    with world.as_(user) as client:
        me = client.get("/api/v1/users/me").json()
    assert me == {
        "name": user.name,
        "kind": "user",
        "systemAdmin": False,
        "method": "token",
        "projects": [{"project": project, "role": "developer", "actions": ["pull", "push"]}],
    }
    created = world.admin.post(
        "/api/v1/robots",
        json={"name": unique("me-bot"), "scopes": [{"project": project, "actions": ["pull"]}]},
    ).json()
    robot = httpx.BasicAuth(created["robot"]["name"], created["secret"])
    with world.as_(robot) as client:
        me = client.get("/api/v1/users/me").json()
    assert me["kind"] == "robot" and me["method"] == "robot"
    assert me["projects"] == [{"project": project, "role": None, "actions": ["pull"]}]
    assert world.admin.get("/api/v1/users/me").json()["systemAdmin"] is True


def test_a_user_changes_its_own_password_with_the_old_one(world: World) -> None:
    user = world.user()
    new = "a much better passphrase"
    path = f"/api/v1/users/{user.name}/password"
    with world.as_(user) as client:
        missing_old = client.put(path, json={"password": new})
        assert_error(missing_old, 400, "ACCESS_INVALID")
        wrong_old = client.put(path, json={"password": new, "oldPassword": "not it at all"})
        assert_error(wrong_old, 403, "DENIED")
        assert "old password" in wrong_old.json()["errors"][0]["message"]
        short = client.put(path, json={"password": "short", "oldPassword": PASSWORD})
        assert_error(short, 400, "ACCESS_INVALID")
        changed = client.put(path, json={"password": new, "oldPassword": PASSWORD})
        assert changed.status_code == 204, changed.text
    with world.as_(httpx.BasicAuth(user.name, new)) as client:
        assert client.get("/v2/").status_code == 200
    with world.as_(httpx.BasicAuth(user.name, PASSWORD)) as client:
        assert_error(client.get("/v2/"), 401, "UNAUTHORIZED")
    [entry] = world.audit("user.password", user.name)
    assert entry["actor"] == user.name and entry["method"] == "token"


def test_a_system_admin_sets_another_users_password_and_nobody_else_may(world: World) -> None:
    user = world.user()
    other = world.user()
    with world.as_(other) as client:
        refused = client.put(
            f"/api/v1/users/{user.name}/password",
            json={"password": "taken over now", "oldPassword": PASSWORD},
        )
        assert_error(refused, 403, "DENIED")
    reset = world.admin.put(
        f"/api/v1/users/{user.name}/password", json={"password": "set by the admin"}
    )
    assert reset.status_code == 204, reset.text
    with world.as_(httpx.BasicAuth(user.name, "set by the admin")) as client:
        assert client.get("/v2/").status_code == 200
    assert_error(
        world.admin.put("/api/v1/users/nobody-here/password", json={"password": PASSWORD}),
        404,
        "ACCESS_UNKNOWN",
    )


def test_a_deleted_users_credentials_stop_working(world: World) -> None:
    user = world.user()
    project = world.project()
    world.member(project, user.name, "maintainer")
    with world.as_(user) as client:
        assert client.get("/v2/").status_code == 200
        assert world.admin.delete(f"/api/v1/users/{user.name}").status_code == 204
        assert_error(client.get("/v2/"), 401, "UNAUTHORIZED")
    with world.as_(httpx.BasicAuth(user.name, PASSWORD)) as client:
        assert_error(client.get("/api/v1/users/me"), 401, "UNAUTHORIZED")
    assert world.admin.get(f"/api/v1/projects/{project}/members").json()["members"] == []


def test_names_in_paths_that_no_account_can_have_are_unknown(world: World) -> None:
    """Not a 500 from the database (PostgreSQL takes no NUL), whatever the path holds."""
    for value in ("a%00b", "%ED%A0%80", "x" * 300, "%E2%80%AE"):
        for path in (
            f"/api/v1/users/{value}",
            f"/api/v1/users/{value}/tokens",
            f"/api/v1/projects/{value}",
            f"/api/v1/projects/{value}/members",
            f"/api/v1/robots/{value}",
        ):
            assert_error(world.admin.get(path), 404, "ACCESS_UNKNOWN")
