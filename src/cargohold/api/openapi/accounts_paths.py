"""OpenAPI paths for accounts: users, personal access tokens, projects and members, robots."""

from __future__ import annotations

from typing import Any

from cargohold.api.openapi.common import error_response, model_response, ref

_INVALID = error_response("ACCESS_INVALID: the body or a name fails validation")
_UNKNOWN = error_response("ACCESS_UNKNOWN: no such user, project, robot or token")
_EXISTS = error_response("ACCESS_EXISTS: one of that name exists already")
_DENIED = error_response("DENIED: the caller's credentials do not allow this")


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": ref(schema)}}}


def _operation(
    operation_id: str,
    summary: str,
    responses: dict[str, Any],
    body: str | None = None,
    errors: dict[str, Any] | None = None,
) -> dict[str, Any]:
    described: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "responses": {**responses, "403": _DENIED, **(errors or {})},
    }
    if body is not None:
        described["requestBody"] = _body(body)
        described["responses"].setdefault("400", _INVALID)
    return described


_NO_CONTENT = {"204": {"description": "Done"}}

PATHS: dict[str, Any] = {
    "/api/v1/users": {
        "get": _operation(
            "listUsers", "Every user (system admins)", {"200": model_response("Users", "UserList")}
        ),
        "post": _operation(
            "createUser",
            "Create a user (system admins); without a password one is generated and answered once",
            {"201": model_response("The user, and the generated password", "NewUser")},
            "CreateUser",
            errors={"409": _EXISTS},
        ),
    },
    "/api/v1/users/me": {
        "get": _operation(
            "whoAmI",
            "Who the request's credentials name, with their role (or a robot's actions) in"
            " each project",
            {"200": model_response("The caller", "Me")},
        )
    },
    "/api/v1/users/{name}": {
        "parameters": [_path("name")],
        "get": _operation(
            "getUser",
            "A user (the user itself, or a system admin)",
            {"200": model_response("The user", "User")},
            errors={"404": _UNKNOWN},
        ),
        "patch": _operation(
            "updateUser",
            "Set a user's systemAdmin or disabled flag (system admins; not your own)",
            {"200": model_response("The user as changed", "User")},
            "UpdateUser",
            errors={"404": _UNKNOWN},
        ),
        "delete": _operation(
            "deleteUser",
            "Delete a user with its memberships and tokens (system admins; not yourself)",
            _NO_CONTENT,
            errors={"404": _UNKNOWN},
        ),
    },
    "/api/v1/users/{name}/password": {
        "parameters": [_path("name")],
        "put": _operation(
            "setPassword",
            "Change your own password (with oldPassword), or another user's as a system admin;"
            " the user's refresh tokens end",
            _NO_CONTENT,
            "SetPassword",
            errors={
                "404": _UNKNOWN,
                "429": error_response(
                    "TOOMANYREQUESTS: too many wrong old passwords; see Retry-After"
                ),
            },
        ),
    },
    "/api/v1/users/{name}/tokens": {
        "parameters": [_path("name")],
        "get": _operation(
            "listAccessTokens",
            "A user's personal access tokens, never their secrets (the user, or a system admin)",
            {"200": model_response("The tokens", "AccessTokenList")},
            errors={"404": _UNKNOWN},
        ),
        "post": _operation(
            "createAccessToken",
            "Create a personal access token of your own; the token is in this answer only",
            {"201": model_response("The token's record and the token", "NewAccessToken")},
            "CreateAccessToken",
            errors={"409": _EXISTS},
        ),
    },
    "/api/v1/users/{name}/tokens/{token}": {
        "parameters": [_path("name"), _path("token")],
        "delete": _operation(
            "deleteAccessToken",
            "Delete a personal access token (its owner, or a system admin); what it obtained"
            " ends with it",
            _NO_CONTENT,
            errors={"404": _UNKNOWN},
        ),
    },
    "/api/v1/projects": {
        "get": _operation(
            "listProjects",
            "The projects the caller may pull from (every project for a system admin)",
            {"200": model_response("Projects", "ProjectList")},
        ),
        "post": _operation(
            "createProject",
            "Create a project (system admins)",
            {"201": model_response("The project", "Project")},
            "CreateProject",
            errors={"409": _EXISTS},
        ),
    },
    "/api/v1/projects/{project}": {
        "parameters": [_path("project")],
        "get": _operation(
            "getProject",
            "A project (whoever may pull from it)",
            {"200": model_response("The project", "Project")},
            errors={"404": _UNKNOWN},
        ),
        "patch": _operation(
            "updateProject",
            "Make a project public or private (its admins: policies)",
            {"200": model_response("The project as changed", "Project")},
            "UpdateProject",
            errors={"404": _UNKNOWN},
        ),
        "delete": _operation(
            "deleteProject",
            "Delete an empty project with its memberships and robots' scopes on it (its"
            " admins: delete-project)",
            _NO_CONTENT,
            errors={
                "404": _UNKNOWN,
                "409": error_response("PROJECT_NOT_EMPTY: its repositories still hold images"),
            },
        ),
    },
    "/api/v1/projects/{project}/members": {
        "parameters": [_path("project")],
        "get": _operation(
            "listMembers",
            "A project's members and their roles (its admins: members)",
            {"200": model_response("The members", "MemberList")},
            errors={"404": _UNKNOWN},
        ),
        "post": _operation(
            "addMember",
            "Give a user a role in the project (its admins: members)",
            {"201": model_response("The membership", "Member")},
            "AddMember",
            errors={"404": _UNKNOWN, "409": _EXISTS},
        ),
    },
    "/api/v1/projects/{project}/members/{user}": {
        "parameters": [_path("project"), _path("user")],
        "put": _operation(
            "changeRole",
            "Change a member's role (the project's admins: members)",
            {"200": model_response("The membership", "Member")},
            "ChangeRole",
            errors={"404": _UNKNOWN},
        ),
        "delete": _operation(
            "removeMember",
            "Remove a member (the project's admins: members)",
            _NO_CONTENT,
            errors={"404": _UNKNOWN},
        ),
    },
    "/api/v1/robots": {
        "get": _operation(
            "listRobots",
            "The robots the caller may manage (a project admin: those scoped to its projects)",
            {"200": model_response("Robots", "RobotList")},
        ),
        "post": _operation(
            "createRobot",
            "Create a robot with scopes within the caller's own rights; the secret is in this"
            " answer only",
            {"201": model_response("The robot and its secret", "RobotSecret")},
            "CreateRobot",
            errors={"409": _EXISTS},
        ),
    },
    "/api/v1/robots/{name}": {
        "parameters": [_path("name")],
        "get": _operation(
            "getRobot",
            "A robot the caller may manage",
            {"200": model_response("The robot", "Robot")},
            errors={"404": _UNKNOWN},
        ),
        "delete": _operation(
            "deleteRobot",
            "Delete a robot (revoked or not) and what its secret obtained",
            _NO_CONTENT,
            errors={"404": _UNKNOWN},
        ),
    },
    "/api/v1/robots/{name}/refresh": {
        "parameters": [_path("name")],
        "post": {
            **_operation(
                "refreshRobot",
                "A new secret (the old one and its refresh tokens stop working) and a new"
                " expiry; the body may be left out (the default expiry)",
                {"200": model_response("The robot and its new secret", "RobotSecret")},
                "RefreshRobot",
                errors={"404": _UNKNOWN},
            ),
            "requestBody": {
                "required": False,
                "content": {"application/json": {"schema": ref("RefreshRobot")}},
            },
        },
    },
    "/api/v1/robots/{name}/revoke": {
        "parameters": [_path("name")],
        "post": _operation(
            "revokeRobot",
            "Revoke a robot for good: kept for the record, never accepted again",
            {"200": model_response("The revoked robot", "Robot")},
            errors={"404": _UNKNOWN},
        ),
    },
}
