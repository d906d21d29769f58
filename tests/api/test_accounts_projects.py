"""Projects and their members over the admin API: system admins create projects, project
admins manage members and the public flag, a project is deleted only when empty, and every
change is in the audit log."""

from __future__ import annotations

from tests.api.accounts_world import World, unique, world_fixture  # noqa: F401
from tests.api.helpers import assert_error
from tests.support.oci import push_image


def test_a_system_admin_creates_a_project_and_callers_see_what_they_may_pull(
    world: World,
) -> None:
    private = world.project()
    public = world.project(public=True)
    created = world.admin.get(f"/api/v1/projects/{private}").json()
    assert created["public"] is False and created["createdBy"] == "admin"
    assert created["createdAt"].endswith("Z")
    names = [p["name"] for p in world.admin.get("/api/v1/projects").json()["projects"]]
    assert {private, public} <= set(names)

    outsider = world.user()
    guest = world.user()
    world.member(private, guest.name, "guest")
    with world.as_(outsider) as client:
        seen = {p["name"] for p in client.get("/api/v1/projects").json()["projects"]}
        assert public in seen and private not in seen
        assert_error(client.get(f"/api/v1/projects/{private}"), 403, "DENIED")
    with world.as_(guest) as client:
        seen = {p["name"] for p in client.get("/api/v1/projects").json()["projects"]}
        assert {public, private} <= seen
        assert client.get(f"/api/v1/projects/{private}").json()["name"] == private
    with world.as_(None) as anonymous:
        seen = {p["name"] for p in anonymous.get("/api/v1/projects").json()["projects"]}
        assert public in seen and private not in seen
        assert anonymous.get(f"/api/v1/projects/{public}").status_code == 200
    [entry] = world.audit("project.create", private)
    assert entry["project"] == private and entry["detail"] == {"public": False}


def test_only_system_admins_create_projects(world: World) -> None:
    project = world.project()
    admin_of_project = world.user()
    world.member(project, admin_of_project.name, "project-admin")
    with world.as_(admin_of_project) as client:
        refused = client.post("/api/v1/projects", json={"name": unique("mine")})
        assert_error(refused, 403, "DENIED")
    for body, status, code in (
        ({"name": project}, 409, "ACCESS_EXISTS"),
        ({"name": "Team"}, 400, "ACCESS_INVALID"),
        ({"name": "team/app"}, 400, "ACCESS_INVALID"),
        ({"name": unique("p"), "public": "yes"}, 400, "ACCESS_INVALID"),
        ({"name": unique("p"), "private": True}, 400, "ACCESS_INVALID"),
    ):
        assert_error(world.admin.post("/api/v1/projects", json=body), status, code)
    assert_error(world.admin.get("/api/v1/projects/nothing-here"), 404, "ACCESS_UNKNOWN")


def test_a_project_admin_makes_its_project_public_and_a_developer_may_not(
    world: World,
) -> None:
    project = world.project()
    push_image(world.admin, f"{project}/app", "v1")
    project_admin, developer = world.user(), world.user()
    world.member(project, project_admin.name, "project-admin")
    world.member(project, developer.name, "developer")
    with world.as_(developer) as client:
        refused = client.patch(f"/api/v1/projects/{project}", json={"public": True})
        assert_error(refused, 403, "DENIED")
    with world.as_(None) as anonymous:
        assert anonymous.get(f"/v2/{project}/app/manifests/v1").status_code == 401
    with world.as_(project_admin) as client:
        changed = client.patch(f"/api/v1/projects/{project}", json={"public": True})
        assert changed.status_code == 200 and changed.json()["public"] is True
        assert_error(client.patch(f"/api/v1/projects/{project}", json={}), 400, "ACCESS_INVALID")
    with world.as_(None) as anonymous:
        assert anonymous.get(f"/v2/{project}/app/manifests/v1").status_code == 200
    [entry] = world.audit("project.update", project)
    assert entry["actor"] == project_admin.name and entry["detail"] == {"public": True}


def test_a_project_is_deleted_only_when_empty(world: World) -> None:
    project = world.project()
    digest = push_image(world.admin, f"{project}/app", "v1")[0]
    project_admin, maintainer = world.user(), world.user()
    world.member(project, project_admin.name, "project-admin")
    world.member(project, maintainer.name, "maintainer")
    with world.as_(maintainer) as client:
        assert_error(client.delete(f"/api/v1/projects/{project}"), 403, "DENIED")
    with world.as_(project_admin) as client:
        held = client.delete(f"/api/v1/projects/{project}")
        assert_error(held, 409, "PROJECT_NOT_EMPTY")
        assert held.json()["errors"][0]["detail"] == {"repositories": [f"{project}/app"]}
        assert client.delete(f"/v2/{project}/app/manifests/{digest}").status_code == 202
        assert client.delete(f"/api/v1/projects/{project}").status_code == 204
    assert_error(world.admin.get(f"/api/v1/projects/{project}"), 404, "ACCESS_UNKNOWN")
    assert_error(world.admin.delete(f"/api/v1/projects/{project}"), 404, "ACCESS_UNKNOWN")
    [entry] = world.audit("project.delete", project)
    assert entry["actor"] == project_admin.name
    # Its members went with it: a new project of that name starts without them.
    world.project(project)
    assert world.admin.get(f"/api/v1/projects/{project}/members").json()["members"] == []


def test_a_project_of_a_similar_name_does_not_hold_another_one(world: World) -> None:
    project = world.project()
    world.project(f"{project}-b")
    push_image(world.admin, f"{project}-b/app", "v1")
    assert world.admin.delete(f"/api/v1/projects/{project}").status_code == 204


def test_a_project_admin_manages_members(world: World) -> None:
    project = world.project()
    project_admin, user = world.user(), world.user()
    world.member(project, project_admin.name, "project-admin")
    members = f"/api/v1/projects/{project}/members"
    with world.as_(user) as client:
        assert_error(client.get(f"/v2/{project}/app/tags/list"), 403, "DENIED")
    with world.as_(project_admin) as client:
        added = client.post(members, json={"user": user.name, "role": "guest"})
        assert added.status_code == 201, added.text
        assert added.json() == {"project": project, "user": user.name, "role": "guest"}
        again = client.post(members, json={"user": user.name, "role": "developer"})
        assert_error(again, 409, "ACCESS_EXISTS")
        changed = client.put(f"{members}/{user.name}", json={"role": "developer"})
        assert changed.status_code == 200 and changed.json()["role"] == "developer"
        listed = client.get(members).json()["members"]
        assert {(m["user"], m["role"]) for m in listed} == {
            (project_admin.name, "project-admin"),
            (user.name, "developer"),
        }
    with world.as_(user) as client:
        # The new role counts at once: a developer pushes.
        push_image(client, f"{project}/app", "v1")
    with world.as_(project_admin) as client:
        assert client.delete(f"{members}/{user.name}").status_code == 204
        assert_error(client.delete(f"{members}/{user.name}"), 404, "ACCESS_UNKNOWN")
    with world.as_(user) as client:
        assert_error(client.get(f"/v2/{project}/app/manifests/v1"), 403, "DENIED")
    sets = world.audit("member.set", project)
    assert [(e["actor"], e["detail"]) for e in sets][:2] == [
        (project_admin.name, {"user": user.name, "role": "developer"}),
        (project_admin.name, {"user": user.name, "role": "guest"}),
    ]
    [removed] = world.audit("member.remove", project)
    assert removed["detail"] == {"user": user.name}


def test_a_developer_cannot_manage_members(world: World) -> None:
    project = world.project()
    developer, other = world.user(), world.user()
    world.member(project, developer.name, "developer")
    members = f"/api/v1/projects/{project}/members"
    with world.as_(developer) as client:
        assert_error(client.get(members), 403, "DENIED")
        added = client.post(members, json={"user": other.name, "role": "guest"})
        assert_error(added, 403, "DENIED")
        promoted = client.put(f"{members}/{developer.name}", json={"role": "project-admin"})
        assert_error(promoted, 403, "DENIED")
        assert_error(client.delete(f"{members}/{developer.name}"), 403, "DENIED")
    assert world.audit("member.set", project)[0]["detail"]["role"] == "developer"


def test_bad_member_requests(world: World) -> None:
    project = world.project()
    user = world.user()
    members = f"/api/v1/projects/{project}/members"
    for body, status, code in (
        ({"user": user.name, "role": "owner"}, 400, "ACCESS_INVALID"),
        ({"user": user.name}, 400, "ACCESS_INVALID"),
        ({"user": "nobody-here", "role": "guest"}, 404, "ACCESS_UNKNOWN"),
    ):
        assert_error(world.admin.post(members, json=body), status, code)
    assert_error(
        world.admin.post(
            "/api/v1/projects/nothing-here/members", json={"user": user.name, "role": "guest"}
        ),
        404,
        "ACCESS_UNKNOWN",
    )
    assert_error(
        world.admin.put(f"{members}/{user.name}", json={"role": "guest"}), 404, "ACCESS_UNKNOWN"
    )
