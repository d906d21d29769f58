"""Users, projects and members, robots and personal access tokens: the documents the
accounts routes answer with, and the bodies they take (api/accounts.py).

No document carries a password hash or a secret's digest; a robot's secret and a personal
access token appear only in the answer that made them (`RobotSecret`, `NewAccessToken`), and
a password only when the server generated it (`NewUser`).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from cargohold.api.models.base import Model
from cargohold.api.models.times import UtcTime, utc, utc_or_none
from cargohold.meta import access_tokens, projects, robots, users
from cargohold.policy.permissions import PROJECT_ACTIONS, ROLE_ACTIONS, Principal, Role

RoleName = Literal["project-admin", "maintainer", "developer", "guest"]
Action = Literal[
    "pull", "push", "delete", "tag-rules", "lifecycle", "members", "policies", "delete-project"
]
assert set(RoleName.__args__) == {r.value for r in Role}  # type: ignore[attr-defined]
assert Action.__args__ == PROJECT_ACTIONS  # type: ignore[attr-defined]
Days = Annotated[int, msgspec.Meta(ge=1, le=36500)]
Password = Annotated[str, msgspec.Meta(max_length=1024)]


# -- users ------------------------------------------------------------------------------------


class User(Model):
    name: str
    system_admin: bool
    disabled: Annotated[bool, msgspec.Meta(description="A disabled user cannot sign in")]
    created_at: UtcTime
    updated_at: UtcTime

    @classmethod
    def of(cls, user: users.User) -> User:
        return cls(
            name=user.name,
            system_admin=user.system_admin,
            disabled=user.disabled,
            created_at=utc(user.created_at),
            updated_at=utc(user.updated_at),
        )


class UserList(Model):
    users: list[User]


class NewUser(Model):
    user: User
    password: Annotated[
        str | None,
        msgspec.Meta(description="The generated password, shown this once; null when given"),
    ]


class MyProject(Model):
    project: str
    role: Annotated[RoleName | None, msgspec.Meta(description="null: a robot's scope")]
    actions: list[Action]


class Me(Model):
    """Who the credentials of the request name, and what they allow in each project."""

    name: str
    kind: Literal["user", "robot", "anonymous"]
    system_admin: bool
    method: Annotated[
        str, msgspec.Meta(description="How the request authenticated: password, token, robot...")
    ]
    projects: list[MyProject]

    @classmethod
    def of(cls, principal: Principal, method: str) -> Me:
        mine = [
            MyProject(project=p, role=r.value, actions=sorted(ROLE_ACTIONS[r], key=_order))  # type: ignore[arg-type]
            for p, r in sorted(principal.roles.items())
        ] + [
            MyProject(project=p, role=None, actions=sorted(a, key=_order))  # type: ignore[arg-type]
            for p, a in sorted(principal.scopes.items())
        ]
        return cls(
            name=principal.name,
            kind=principal.kind,  # type: ignore[arg-type]
            system_admin=principal.system_admin,
            method=method,
            projects=mine,
        )


def _order(action: str) -> int:
    return PROJECT_ACTIONS.index(action)


class CreateUser(Model):
    name: str
    password: Annotated[
        Password | None, msgspec.Meta(description="At least 8 characters; left out: generated")
    ] = None
    system_admin: bool = False


class UpdateUser(Model):
    system_admin: bool | None = None
    disabled: bool | None = None


class SetPassword(Model):
    password: Password
    old_password: Annotated[
        Password | None, msgspec.Meta(description="Required when you change your own password")
    ] = None


# -- projects and members ---------------------------------------------------------------------


class Project(Model):
    name: str
    public: Annotated[bool, msgspec.Meta(description="Anyone, signed in or not, may pull")]
    created_at: UtcTime
    created_by: str

    @classmethod
    def of(cls, project: projects.Project) -> Project:
        return cls(
            name=project.name,
            public=project.public,
            created_at=utc(project.created_at),
            created_by=project.created_by,
        )


class ProjectList(Model):
    projects: list[Project]


class Member(Model):
    project: str
    user: str
    role: RoleName

    @classmethod
    def of(cls, member: projects.Membership) -> Member:
        return cls(project=member.project, user=member.user, role=member.role)  # type: ignore[arg-type]


class MemberList(Model):
    members: list[Member]


class CreateProject(Model):
    name: str
    public: bool = False


class UpdateProject(Model):
    public: bool


class AddMember(Model):
    user: str
    role: RoleName


class ChangeRole(Model):
    role: RoleName


# -- robots -----------------------------------------------------------------------------------


class RobotScope(Model):
    project: Annotated[str, msgspec.Meta(description='A project, or "*" for every project')]
    actions: list[Action]


class Robot(Model):
    name: str
    description: str
    scopes: list[RobotScope]
    expires_at: Annotated[UtcTime | None, msgspec.Meta(description="null: never")]
    expired: bool
    revoked: bool
    created_at: UtcTime
    created_by: str
    secret_updated_at: UtcTime

    @classmethod
    def of(cls, robot: robots.Robot, now: float) -> Robot:
        return cls(
            name=robot.name,
            description=robot.description,
            scopes=[
                RobotScope(project=s.project, actions=list(s.actions))  # type: ignore[arg-type]
                for s in robot.scopes
            ],
            expires_at=utc_or_none(robot.expires_at),
            expired=robot.expires_at is not None and now >= robot.expires_at,
            revoked=robot.revoked,
            created_at=utc(robot.created_at),
            created_by=robot.created_by,
            secret_updated_at=utc(robot.secret_updated_at),
        )


class RobotList(Model):
    robots: list[Robot]


class RobotSecret(Model):
    robot: Robot
    secret: Annotated[str, msgspec.Meta(description="Shown this once; stored only as a digest")]


Expiry = Annotated[
    Days | Literal["never"] | None,
    msgspec.Meta(
        description='Days until it expires; "never" (system admins only); left out: the '
        "default (auth_robot_expiry_days)"
    ),
]


class CreateRobot(Model):
    name: Annotated[str, msgspec.Meta(description="With or without the robot$ prefix")]
    scopes: list[RobotScope]
    description: Annotated[str, msgspec.Meta(max_length=1000)] = ""
    expires_in_days: Expiry = None


class RefreshRobot(Model):
    expires_in_days: Expiry = None


# -- personal access tokens -------------------------------------------------------------------


class AccessToken(Model):
    name: str
    owner: str
    expires_at: Annotated[UtcTime | None, msgspec.Meta(description="null: never")]
    expired: bool
    last_used_at: Annotated[
        UtcTime | None, msgspec.Meta(description="To the minute; null: never used")
    ]
    created_at: UtcTime

    @classmethod
    def of(cls, token: access_tokens.AccessToken, now: float) -> AccessToken:
        return cls(
            name=token.name,
            owner=token.owner,
            expires_at=utc_or_none(token.expires_at),
            expired=token.expires_at is not None and now >= token.expires_at,
            last_used_at=utc_or_none(token.last_used_at),
            created_at=utc(token.created_at),
        )


class AccessTokenList(Model):
    tokens: list[AccessToken]


class NewAccessToken(Model):
    token: AccessToken
    secret: Annotated[
        str,
        msgspec.Meta(
            description="The token (chpat_...), shown this once; sign in with the owner's name"
        ),
    ]


class CreateAccessToken(Model):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    expires_in_days: Annotated[Days | None, msgspec.Meta(description="null: never expires")] = None


RESPONSE_MODELS: list[type[msgspec.Struct]] = [
    UserList,
    User,
    NewUser,
    Me,
    ProjectList,
    Project,
    MemberList,
    Member,
    RobotList,
    Robot,
    RobotSecret,
    AccessTokenList,
    NewAccessToken,
]
REQUEST_MODELS: list[type[msgspec.Struct]] = [
    CreateUser,
    UpdateUser,
    SetPassword,
    CreateProject,
    UpdateProject,
    AddMember,
    ChangeRole,
    CreateRobot,
    RefreshRobot,
    CreateAccessToken,
]
