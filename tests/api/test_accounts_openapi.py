"""The accounts routes' answers from a running server validate against the OpenAPI document
it serves (the schemas are generated from the models and forbid undocumented keys)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.accounts_world import PASSWORD, World, unique, world_fixture  # noqa: F401
from tests.api.test_openapi_responses import _response_schema, _validate


def test_accounts_responses_validate_against_the_documented_schemas(world: World) -> None:
    document = world.admin.get("/api/v1/openapi.json").json()
    checked: set[tuple[str, str]] = set()

    def check(response: httpx.Response, path: str, method: str, status: int) -> Any:
        assert response.status_code == status, (path, method, response.text)
        _validate(document, _response_schema(document, path, method, str(status)), response.json())
        checked.add((path, method))
        return response.json()

    admin = world.admin
    name = unique("schema")
    check(admin.post("/api/v1/users", json={"name": name}), "/api/v1/users", "post", 201)
    check(admin.get("/api/v1/users"), "/api/v1/users", "get", 200)
    check(admin.get("/api/v1/users/me"), "/api/v1/users/me", "get", 200)
    check(admin.get(f"/api/v1/users/{name}"), "/api/v1/users/{name}", "get", 200)
    patched = admin.patch(f"/api/v1/users/{name}", json={"disabled": False})
    check(patched, "/api/v1/users/{name}", "patch", 200)
    admin.put(f"/api/v1/users/{name}/password", json={"password": PASSWORD})
    with world.as_(httpx.BasicAuth(name, PASSWORD)) as user:
        made = user.post(f"/api/v1/users/{name}/tokens", json={"name": "t", "expiresInDays": 1})
        check(made, "/api/v1/users/{name}/tokens", "post", 201)
    check(admin.get(f"/api/v1/users/{name}/tokens"), "/api/v1/users/{name}/tokens", "get", 200)

    project = unique("schema")
    created = admin.post("/api/v1/projects", json={"name": project})
    check(created, "/api/v1/projects", "post", 201)
    check(admin.get("/api/v1/projects"), "/api/v1/projects", "get", 200)
    check(admin.get(f"/api/v1/projects/{project}"), "/api/v1/projects/{project}", "get", 200)
    public = admin.patch(f"/api/v1/projects/{project}", json={"public": True})
    check(public, "/api/v1/projects/{project}", "patch", 200)
    members = f"/api/v1/projects/{project}/members"
    added = admin.post(members, json={"user": name, "role": "guest"})
    check(added, "/api/v1/projects/{project}/members", "post", 201)
    check(admin.get(members), "/api/v1/projects/{project}/members", "get", 200)
    changed = admin.put(f"{members}/{name}", json={"role": "maintainer"})
    check(changed, "/api/v1/projects/{project}/members/{user}", "put", 200)

    robot = check(
        admin.post(
            "/api/v1/robots",
            json={"name": unique("schema"), "scopes": [{"project": project, "actions": ["pull"]}]},
        ),
        "/api/v1/robots",
        "post",
        201,
    )["robot"]["name"]
    check(admin.get("/api/v1/robots"), "/api/v1/robots", "get", 200)
    check(admin.get(f"/api/v1/robots/{robot}"), "/api/v1/robots/{name}", "get", 200)
    refreshed = admin.post(f"/api/v1/robots/{robot}/refresh", json={"expiresInDays": 2})
    check(refreshed, "/api/v1/robots/{name}/refresh", "post", 200)
    revoked = admin.post(f"/api/v1/robots/{robot}/revoke")
    check(revoked, "/api/v1/robots/{name}/revoke", "post", 200)

    answered = {"200", "201"}
    documented = {
        (path, method)
        for path, operations in document["paths"].items()
        if path.startswith(("/api/v1/users", "/api/v1/robots", "/api/v1/projects"))
        and not path.endswith(("/quota", "/scan-policy", "/trust", "/trust/keys"))
        for method, operation in operations.items()
        if isinstance(operation, dict) and answered & set(operation["responses"])
    }
    # Every accounts operation that answers with a document was checked here (quota, scan
    # policy and trust answers are checked in test_openapi_responses.py).
    assert documented == checked
