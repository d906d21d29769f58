"""Robot accounts over the admin API: project admins make robots for their own projects with
no more than they have, `never` takes a system admin, the secret is shown once, and a
refreshed or revoked robot's old secret and refresh tokens stop working."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from tests.api.accounts_world import World, unique, world_fixture  # noqa: F401
from tests.api.helpers import assert_error
from tests.support.accounts import Login
from tests.support.oci import push_image


def _robot(client: httpx.Client, project: str, actions: list[str], **extra: Any) -> httpx.Response:
    body = {"name": unique("ci"), "scopes": [{"project": project, "actions": actions}], **extra}
    return client.post("/api/v1/robots", json=body)


def _login(created: httpx.Response) -> Login:
    assert created.status_code in (200, 201), created.text
    body = created.json()
    return Login(body["robot"]["name"], body["secret"])


def test_a_project_admin_makes_a_robot_for_its_project(world: World) -> None:
    project = world.project()
    project_admin = world.user()
    world.member(project, project_admin.name, "project-admin")
    with world.as_(project_admin) as client:
        created = _robot(client, project, ["pull", "push"], description="release builds")
        assert created.status_code == 201, created.text
        body = created.json()
        robot = body["robot"]
        assert robot["name"].startswith("robot$")
        assert robot["description"] == "release builds"
        assert robot["scopes"] == [{"project": project, "actions": ["pull", "push"]}]
        assert robot["createdBy"] == project_admin.name
        assert robot["revoked"] is False and robot["expired"] is False
        # 30 days by default.
        lifetime = dt.datetime.fromisoformat(robot["expiresAt"]) - dt.datetime.fromisoformat(
            robot["createdAt"]
        )
        assert lifetime == dt.timedelta(days=30)
        secret = body["secret"]
        shown = client.get(f"/api/v1/robots/{robot['name']}")
        assert shown.status_code == 200 and secret not in shown.text
        assert "secret" not in shown.json()
        listed = client.get("/api/v1/robots")
        assert [r["name"] for r in listed.json()["robots"]] == [robot["name"]]
        assert secret not in listed.text
    with world.as_(Login(robot["name"], secret)) as ci:
        push_image(ci, f"{project}/app", "v1")
        assert ci.get(f"/v2/{project}/app/manifests/v1").status_code == 200
    [entry] = world.audit("robot.create", robot["name"])
    assert entry["actor"] == project_admin.name
    assert entry["detail"]["scopes"] == [{"project": project, "actions": ["pull", "push"]}]
    assert secret not in str(entry)


def test_a_project_admin_cannot_give_a_robot_scopes_on_another_project(world: World) -> None:
    mine, theirs = world.project(), world.project()
    project_admin = world.user()
    world.member(mine, project_admin.name, "project-admin")
    name = unique("sneaky")
    with world.as_(project_admin) as client:
        refused = client.post(
            "/api/v1/robots",
            json={
                "name": name,
                "scopes": [
                    {"project": mine, "actions": ["pull"]},
                    {"project": theirs, "actions": ["pull"]},
                ],
            },
        )
        assert_error(refused, 403, "DENIED")
        assert_error(_robot(client, "*", ["pull"]), 403, "DENIED")
        assert_error(client.get(f"/api/v1/robots/{name}"), 404, "ACCESS_UNKNOWN")
    [denied] = world.denials("robot.create", f"robot${name}")
    assert denied["actor"] == project_admin.name and theirs in denied["detail"]["reason"]


def test_a_developer_cannot_make_robots_even_with_actions_it_has(world: World) -> None:
    project = world.project()
    developer = world.user()
    world.member(project, developer.name, "developer")
    with world.as_(developer) as client:
        assert_error(_robot(client, project, ["pull"]), 403, "DENIED")
        assert client.get("/api/v1/robots").json()["robots"] == []


def test_a_robot_that_never_expires_needs_a_system_admin(world: World) -> None:
    project = world.project()
    project_admin = world.user()
    world.member(project, project_admin.name, "project-admin")
    with world.as_(project_admin) as client:
        assert_error(_robot(client, project, ["pull"], expiresInDays="never"), 403, "DENIED")
        week = _robot(client, project, ["pull"], expiresInDays=7)
        assert week.status_code == 201, week.text
    forever = _robot(world.admin, project, ["pull", "push", "delete"], expiresInDays="never")
    assert forever.status_code == 201, forever.text
    assert forever.json()["robot"]["expiresAt"] is None
    everywhere = _robot(world.admin, "*", ["pull"])
    assert everywhere.status_code == 201, everywhere.text


def test_bad_robot_requests_get_clear_400s(world: World) -> None:
    project = world.project()
    taken = _login(_robot(world.admin, project, ["pull"])).name
    for body, status, code, words in (
        ({"name": "x", "scopes": []}, 400, "ACCESS_INVALID", "at least one project scope"),
        (
            {"name": "x", "scopes": [{"project": project, "actions": ["fly"]}]},
            400,
            "ACCESS_INVALID",
            "$.scopes[0].actions[0]",
        ),
        (
            {"name": "x", "scopes": [{"project": "nothing-here", "actions": ["pull"]}]},
            400,
            "ACCESS_INVALID",
            "no project",
        ),
        (
            {"name": "Bad Name", "scopes": [{"project": project, "actions": ["pull"]}]},
            400,
            "ACCESS_INVALID",
            "invalid robot name",
        ),
        (
            {
                "name": "x",
                "scopes": [{"project": project, "actions": ["pull"]}],
                "expiresInDays": 0,
            },
            400,
            "ACCESS_INVALID",
            "$.expiresInDays",
        ),
        (
            {
                "name": "x",
                "scopes": [{"project": project, "actions": ["pull"]}],
                "expiresInDays": "soon",
            },
            400,
            "ACCESS_INVALID",
            "$.expiresInDays",
        ),
        (
            {"name": taken, "scopes": [{"project": project, "actions": ["pull"]}]},
            409,
            "ACCESS_EXISTS",
            "exists",
        ),
    ):
        response = world.admin.post("/api/v1/robots", json=body)
        assert_error(response, status, code)
        assert words in response.json()["errors"][0]["message"], response.text
    assert_error(world.admin.get("/api/v1/robots/robot$nothing-here"), 404, "ACCESS_UNKNOWN")


def _refresh_token(world: World, robot: Login, project: str) -> str:
    response = httpx.get(
        f"{world.server.url}/auth/token",
        params={
            "service": "cargohold",
            "scope": f"repository:{project}/app:pull",
            "offline_token": "true",
        },
        auth=robot.auth,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["refresh_token"])


def _use_refresh_token(world: World, refresh: str) -> httpx.Response:
    return httpx.post(
        f"{world.server.url}/auth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh,
            "service": "cargohold",
            "client_id": "tests",
        },
        timeout=30,
    )


def test_a_refreshed_robot_has_a_new_secret_and_the_old_one_ends(world: World) -> None:
    project = world.project()
    robot = _login(_robot(world.admin, project, ["pull"]))
    refresh = _refresh_token(world, robot, project)
    assert _use_refresh_token(world, refresh).status_code == 200
    refreshed = world.admin.post(f"/api/v1/robots/{robot.name}/refresh", json={"expiresInDays": 3})
    assert refreshed.status_code == 200, refreshed.text
    new = _login(refreshed)
    assert new.secret != robot.secret
    with world.as_(robot) as old_client:
        assert_error(old_client.get("/v2/"), 401, "UNAUTHORIZED")
    with world.as_(new) as new_client:
        assert new_client.get("/v2/").status_code == 200
    assert _use_refresh_token(world, refresh).status_code == 400
    # Without a body: the default expiry.
    again = world.admin.post(f"/api/v1/robots/{robot.name}/refresh")
    assert again.status_code == 200, again.text
    assert len(world.audit("robot.refresh", robot.name)) == 2


def test_a_revoked_robots_secret_and_refresh_tokens_stop_working(world: World) -> None:
    project = world.project()
    project_admin = world.user()
    world.member(project, project_admin.name, "project-admin")
    with world.as_(project_admin) as client:
        robot = _login(_robot(client, project, ["pull"]))
        refresh = _refresh_token(world, robot, project)
        revoked = client.post(f"/api/v1/robots/{robot.name}/revoke")
        assert revoked.status_code == 200 and revoked.json()["revoked"] is True
        with world.as_(robot) as ci:
            assert_error(ci.get("/v2/"), 401, "UNAUTHORIZED")
        assert _use_refresh_token(world, refresh).status_code == 400
        # Revoked for good: no new secret.
        refused = client.post(f"/api/v1/robots/{robot.name}/refresh", json={})
        assert_error(refused, 400, "ACCESS_INVALID")
        # Still listed, for the record, until deleted.
        assert client.get(f"/api/v1/robots/{robot.name}").json()["revoked"] is True
        assert client.delete(f"/api/v1/robots/{robot.name}").status_code == 204
        assert_error(client.get(f"/api/v1/robots/{robot.name}"), 404, "ACCESS_UNKNOWN")
    for action in ("robot.revoke", "robot.delete"):
        [entry] = world.audit(action, robot.name)
        assert entry["actor"] == project_admin.name


def test_robots_of_another_project_are_not_shown_or_changed(world: World) -> None:
    mine, theirs = world.project(), world.project()
    project_admin = world.user()
    world.member(mine, project_admin.name, "project-admin")
    other = _login(_robot(world.admin, theirs, ["pull"]))
    with world.as_(project_admin) as client:
        # A robot that does not exist is answered as the others below, and is no denial.
        missing = client.post("/api/v1/robots/robot$no-such-robot/revoke")
        assert_error(missing, 404, "ACCESS_UNKNOWN")
        assert other.name not in [r["name"] for r in client.get("/api/v1/robots").json()["robots"]]
        for method, suffix in (
            ("GET", ""),
            ("DELETE", ""),
            ("POST", "/refresh"),
            ("POST", "/revoke"),
        ):
            response = client.request(method, f"/api/v1/robots/{other.name}{suffix}")
            assert_error(response, 404, "ACCESS_UNKNOWN")
    with world.as_(other) as ci:
        assert ci.get("/v2/").status_code == 200
    # Each attempt is in the audit log as a denial of its action, under the one who tried.
    for action in ("robot.get", "robot.delete", "robot.refresh", "robot.revoke"):
        [denied] = world.denials(action, other.name)
        assert denied["actor"] == project_admin.name
        assert other.name in denied["detail"]["reason"]
    denials = world.admin.get("/api/v1/audit", params={"action": "robot.revoke"}).json()
    assert [e for e in denials["events"] if e["target"] == "robot$no-such-robot"] == []


def test_deleting_a_project_ends_robots_scopes_on_it(world: World) -> None:
    project = world.project()
    robot = _login(_robot(world.admin, project, ["pull"]))
    assert world.admin.delete(f"/api/v1/projects/{project}").status_code == 204
    world.project(project)
    push_image(world.admin, f"{project}/app", "v1")
    with world.as_(robot) as ci:
        assert_error(ci.get(f"/v2/{project}/app/manifests/v1"), 403, "DENIED")
    assert world.admin.get(f"/api/v1/robots/{robot.name}").json()["scopes"] == []
