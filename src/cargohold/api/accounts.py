"""The accounts routes of the admin API: users, projects and their members, robots and
personal access tokens (described in api/openapi/accounts_paths.py).

The access check has already decided who may call each route (api/route_access.py); the
services check what is asked (a name, a role, a robot's scopes against its granter's rights)
and audit each change in its transaction. Bodies are strict JSON read into the request models
of api/models/accounts.py; anything else is 400 ACCESS_INVALID naming the field.
"""

from __future__ import annotations

from typing import TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from cargohold.api.boundary import in_pool
from cargohold.api.callers import caller_of
from cargohold.api.context import context
from cargohold.api.encoding import json_response
from cargohold.api.models.accounts import (
    AccessToken,
    AccessTokenList,
    AddMember,
    ChangeRole,
    CreateAccessToken,
    CreateProject,
    CreateRobot,
    CreateUser,
    Me,
    Member,
    MemberList,
    NewAccessToken,
    NewUser,
    Project,
    ProjectList,
    RefreshRobot,
    Robot,
    RobotList,
    RobotSecret,
    SetPassword,
    UpdateProject,
    UpdateUser,
    User,
    UserList,
)
from cargohold.api.params import is_read, model_body
from cargohold.api.route_guard import grant_of, visibility
from cargohold.errors import AccessRequestInvalid, AccessUnknown, Denied
from cargohold.meta.robots import RobotScope
from cargohold.policy.permissions import USER
from cargohold.services.secrets_hashing import new_password

Body = TypeVar("Body", bound=msgspec.Struct)
NO_CONTENT = 204


async def _body(request: Request, model: type[Body], what: str) -> Body:
    """The request's JSON body as `model`; 400 ACCESS_INVALID saying what is wrong with it."""
    return await model_body(request, model, AccessRequestInvalid, what)


# Longer than any stored name: a path parameter past it names nothing.
MAX_NAME = 255


def _named(request: Request, key: str) -> str:
    """A name from the path. One no account can have (over MAX_NAME, a NUL or another
    character that is not printable, which PostgreSQL may not even take) is unknown."""
    value: str = request.path_params[key]
    if len(value) > MAX_NAME or not value.isprintable():
        raise AccessUnknown(f"no {key} of that name")
    return value


def _no_content() -> Response:
    return Response(status_code=NO_CONTENT)


# -- users ------------------------------------------------------------------------------------


async def list_users(request: Request) -> Response:
    users = context(request).access.users
    found = await in_pool(users.users)
    return json_response(UserList(users=[User.of(user) for user in found]))


async def create_user(request: Request) -> Response:
    """A new user; without a `password` in the body, one is generated and answered once."""
    users = context(request).access.users
    body = await _body(request, CreateUser, "the user")
    generated = new_password() if body.password is None else None
    user = await in_pool(
        users.create_user,
        body.name,
        body.password if body.password is not None else generated,
        body.system_admin,
        caller_of(request),
    )
    return json_response(NewUser(user=User.of(user), password=generated), status_code=201)


async def me(request: Request) -> Response:
    """Who the request's credentials name, with their roles (or a robot's scopes)."""
    grant = grant_of(request)
    principal = grant.caller.principal
    if grant.token is not None:
        # A registry token names its subject only: what that subject may do now.
        identity = context(request).access.identity
        principal = await in_pool(identity.principal_named, grant.token.subject)
    return json_response(Me.of(principal, grant.caller.method))


async def user(request: Request) -> Response:
    users = context(request).access.users
    name = _named(request, "name")
    if request.method == "DELETE":
        await in_pool(users.delete_user, name, caller_of(request))
        return _no_content()
    if request.method == "PATCH":
        body = await _body(request, UpdateUser, "the change")
        if body.system_admin is None and body.disabled is None:
            raise AccessRequestInvalid("the change: give systemAdmin, disabled or both")
        changed = await in_pool(
            users.update_user,
            name,
            caller_of(request),
            body.system_admin,
            body.disabled,
        )
        return json_response(User.of(changed))
    return json_response(User.of(await in_pool(users.user, name)))


async def set_password(request: Request) -> Response:
    """Your own password (with the old one), or another user's as a system admin."""
    users = context(request).access.users
    body = await _body(request, SetPassword, "the password change")
    await in_pool(
        users.change_password,
        _named(request, "name"),
        body.old_password,
        body.password,
        caller_of(request),
    )
    return _no_content()


# -- personal access tokens -------------------------------------------------------------------


async def user_tokens(request: Request) -> Response:
    """GET: the user's tokens, without their secrets; POST: a new one, shown this once."""
    users = context(request).access.users
    owner = _named(request, "name")
    if is_read(request):
        tokens = await in_pool(users.access_tokens, owner)
        now = users.clock()
        return json_response(AccessTokenList(tokens=[AccessToken.of(t, now) for t in tokens]))
    caller = caller_of(request)
    if caller.principal.kind != USER or caller.principal.name != owner:
        # A token stands in for its owner's password: only the owner makes one.
        reason = "a personal access token is made by its owner, signed in as themselves"
        context(request).access.identity.trail.denied(caller, "token.create", reason, target=owner)
        raise Denied(reason)
    body = await _body(request, CreateAccessToken, "the token")
    token, secret = await in_pool(
        users.create_access_token, owner, body.name, body.expires_in_days, caller
    )
    document = NewAccessToken(token=AccessToken.of(token, users.clock()), secret=secret)
    return json_response(document, status_code=201)


async def delete_user_token(request: Request) -> Response:
    users = context(request).access.users
    owner, name = _named(request, "name"), _named(request, "token")
    await in_pool(users.delete_access_token, owner, name, caller_of(request))
    return _no_content()


# -- projects and members ---------------------------------------------------------------------


async def projects(request: Request) -> Response:
    """GET: the projects the caller may pull from (all of them for a system admin); POST: a
    new project (system admins)."""
    service = context(request).access.projects
    if request.method == "POST":
        body = await _body(request, CreateProject, "the project")
        created = await in_pool(service.create, body.name, body.public, caller_of(request))
        return json_response(Project.of(created), status_code=201)
    found = await in_pool(service.all)
    shown = await visibility(request)
    return json_response(
        ProjectList(projects=[Project.of(p) for p in found if shown.project(p.name)])
    )


async def project(request: Request) -> Response:
    service = context(request).access.projects
    name = _named(request, "project")
    if request.method == "DELETE":
        await in_pool(service.delete, name, caller_of(request))
        return _no_content()
    if request.method == "PATCH":
        body = await _body(request, UpdateProject, "the change")
        changed = await in_pool(service.set_public, name, body.public, caller_of(request))
        return json_response(Project.of(changed))
    return json_response(Project.of(await in_pool(service.get, name)))


async def members(request: Request) -> Response:
    service = context(request).access.projects
    name = _named(request, "project")
    if request.method == "POST":
        body = await _body(request, AddMember, "the member")
        added = await in_pool(service.add_member, name, body.user, body.role, caller_of(request))
        return json_response(Member.of(added), status_code=201)
    found = await in_pool(service.members, name)
    return json_response(MemberList(members=[Member.of(m) for m in found]))


async def member(request: Request) -> Response:
    service = context(request).access.projects
    name, user_name = _named(request, "project"), _named(request, "user")
    if request.method == "DELETE":
        await in_pool(service.remove_member, name, user_name, caller_of(request))
        return _no_content()
    body = await _body(request, ChangeRole, "the role")
    changed = await in_pool(service.change_role, name, user_name, body.role, caller_of(request))
    return json_response(Member.of(changed))


# -- robots -----------------------------------------------------------------------------------


async def robots(request: Request) -> Response:
    """GET: the robots the caller may manage; POST: a new robot and its secret (shown once)."""
    service = context(request).access.robots
    caller = caller_of(request)
    now = service.clock()
    if is_read(request):
        found = await in_pool(service.list, caller.principal)
        return json_response(RobotList(robots=[Robot.of(r, now) for r in found]))
    body = await _body(request, CreateRobot, "the robot")
    scopes = [RobotScope(s.project, tuple(s.actions)) for s in body.scopes]
    robot, secret = await in_pool(
        service.create, caller, body.name, scopes, body.expires_in_days, body.description
    )
    return json_response(RobotSecret(robot=Robot.of(robot, now), secret=secret), status_code=201)


async def robot(request: Request) -> Response:
    service = context(request).access.robots
    caller = caller_of(request)
    name = _named(request, "name")
    if request.method == "DELETE":
        await in_pool(service.delete, caller, name)
        return _no_content()
    found = await in_pool(service.show, caller, name)
    return json_response(Robot.of(found, service.clock()))


async def refresh_robot(request: Request) -> Response:
    """A new secret (the old one, and what it obtained, stop working) and a new expiry."""
    service = context(request).access.robots
    body = await _body(request, RefreshRobot, "the refresh") if _has_body(request) else None
    expiry = body.expires_in_days if body is not None else None
    refreshed, secret = await in_pool(
        service.refresh, caller_of(request), _named(request, "name"), expiry
    )
    return json_response(RobotSecret(robot=Robot.of(refreshed, service.clock()), secret=secret))


async def revoke_robot(request: Request) -> Response:
    service = context(request).access.robots
    revoked = await in_pool(service.revoke, caller_of(request), _named(request, "name"))
    return json_response(Robot.of(revoked, service.clock()))


def _has_body(request: Request) -> bool:
    """Whether a POST came with a body (a refresh may leave it out: the default expiry)."""
    length = request.headers.get("content-length")
    return bool(request.headers.get("transfer-encoding")) or (length is not None and length != "0")
