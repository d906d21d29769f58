"""Who may do what: roles per project, system admins, robot scopes, public projects.

Pure decisions over facts the caller gathers (the principal's roles or scopes, whether a
project is public). The actions are those of Harbor's roles:

- guest: pull
- developer: pull, push
- maintainer: pull, push, delete (manifests, tags, blobs), tag rules, lifecycle policies
- project admin: all of the maintainer's, plus members, project policies (scan and pull
  policies, holds, robots of the project) and deleting the project
- system admin: every action in every project, and the system actions (users, projects,
  the vulnerability database and allowlist, garbage collection, storage, jobs, quotas, the
  audit log, the metrics unless they are open to anyone)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from cargohold.oci.names import project_of


class Role(StrEnum):
    PROJECT_ADMIN = "project-admin"
    MAINTAINER = "maintainer"
    DEVELOPER = "developer"
    GUEST = "guest"


PULL = "pull"
PUSH = "push"
DELETE = "delete"
TAG_RULES = "tag-rules"
LIFECYCLE = "lifecycle"
MEMBERS = "members"
POLICIES = "policies"
DELETE_PROJECT = "delete-project"

# Every action inside a project, in the order the table above lists them.
PROJECT_ACTIONS: tuple[str, ...] = (
    PULL,
    PUSH,
    DELETE,
    TAG_RULES,
    LIFECYCLE,
    MEMBERS,
    POLICIES,
    DELETE_PROJECT,
)
# The actions a registry token names for a repository (the Docker token spec's).
REPOSITORY_ACTIONS: frozenset[str] = frozenset({PULL, PUSH, DELETE})
# Actions outside any project: only a system admin has them.
SYSTEM_ACTIONS: frozenset[str] = frozenset(
    {
        "users",
        "projects",
        "vulndb",
        "allowlist",
        "gc",
        "storage",
        "jobs",
        "quotas",
        "audit",
        "metrics",
    }
)

_GUEST = frozenset({PULL})
_DEVELOPER = _GUEST | {PUSH}
_MAINTAINER = _DEVELOPER | {DELETE, TAG_RULES, LIFECYCLE}
_PROJECT_ADMIN = _MAINTAINER | {MEMBERS, POLICIES, DELETE_PROJECT}

ROLE_ACTIONS: Mapping[Role, frozenset[str]] = {
    Role.GUEST: _GUEST,
    Role.DEVELOPER: _DEVELOPER,
    Role.MAINTAINER: _MAINTAINER,
    Role.PROJECT_ADMIN: _PROJECT_ADMIN,
}

ANONYMOUS = "anonymous"
USER = "user"
ROBOT = "robot"
# A robot scope on this project name covers every project.
EVERY_PROJECT = "*"


def parse_role(text: str) -> Role:
    try:
        return Role(text)
    except ValueError:
        choices = ", ".join(r.value for r in Role)
        raise ValueError(f"unknown role {text!r}: one of {choices}") from None


@dataclass(frozen=True)
class Principal:
    """Who is asking, with the facts every decision needs about them."""

    kind: str  # ANONYMOUS, USER or ROBOT
    name: str
    system_admin: bool = False
    # A user's role by project name.
    roles: Mapping[str, Role] = field(default_factory=dict)
    # A robot's actions by project name (EVERY_PROJECT for all of them).
    scopes: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @property
    def anonymous(self) -> bool:
        return self.kind == ANONYMOUS


NOBODY = Principal(ANONYMOUS, "")


def project_actions(principal: Principal, project: str, public: bool) -> frozenset[str]:
    """Every action the principal may take in the project."""
    if principal.system_admin:
        return frozenset(PROJECT_ACTIONS)
    allowed: frozenset[str] = frozenset({PULL}) if public else frozenset()
    role = principal.roles.get(project)
    if role is not None:
        allowed |= ROLE_ACTIONS[role]
    if principal.kind == ROBOT:
        allowed |= principal.scopes.get(project, frozenset())
        allowed |= principal.scopes.get(EVERY_PROJECT, frozenset())
    return allowed


def repository_actions(principal: Principal, repository: str, public: bool) -> frozenset[str]:
    """The registry actions (pull, push, delete) the principal has on a repository, whose
    project (its first path component) is public or not."""
    return project_actions(principal, project_of(repository), public) & REPOSITORY_ACTIONS


def may(principal: Principal, action: str, project: str | None, public: bool = False) -> bool:
    """Whether the principal may take the action: in a project, or (None) a system action."""
    if principal.system_admin:
        return True
    if project is None:
        return False
    return action in project_actions(principal, project, public)


def grantable(granter: Principal, project: str, actions: frozenset[str], public: bool) -> bool:
    """Whether the granter may hand these actions in this project to a robot: only what it
    has itself, and only a system admin may grant on every project at once."""
    if project == EVERY_PROJECT:
        return granter.system_admin
    return actions <= project_actions(granter, project, public)


@dataclass(frozen=True)
class Visibility:
    """What a listing shows a caller: everything, or the repositories of some projects and
    some single repositories (a registry token names repositories, not projects)."""

    everything: bool = False
    projects: frozenset[str] = frozenset()
    repositories: frozenset[str] = frozenset()

    def project(self, name: str) -> bool:
        return self.everything or name in self.projects

    def repository(self, name: str) -> bool:
        return self.project(project_of(name)) or name in self.repositories


EVERYTHING = Visibility(everything=True)


def pull_visibility(principal: Principal, public_projects: Iterable[str]) -> Visibility:
    """The projects whose repositories the principal may pull: the public ones, those it has
    a role in, and a robot's scoped ones (all of them for a system admin, or a robot with
    pull on every project)."""
    if principal.system_admin:
        return EVERYTHING
    projects = set(public_projects) | set(principal.roles)
    if principal.kind == ROBOT:
        pulled = {project for project, actions in principal.scopes.items() if PULL in actions}
        if EVERY_PROJECT in pulled:
            return EVERYTHING
        projects |= pulled
    return Visibility(projects=frozenset(projects))
