"""Projects and their members: created by system admins (decision 025), public or private,
deleted only when empty; members and their roles managed by the project's admins.

Who may call each method is the access check's (api/route_access.py); these check what is
asked and record each change in the audit log, in its transaction (meta/projects.py).
"""

from __future__ import annotations

from collections.abc import Callable

from cargohold.errors import ProjectNotEmpty
from cargohold.meta.projects import Membership, Project, ProjectRecords
from cargohold.oci.names import is_valid_project_name
from cargohold.policy.permissions import parse_role
from cargohold.services.access_errors import AccessConflict, AccessInvalid, AccessNotFound
from cargohold.services.caller import Caller

Clock = Callable[[], float]


class ProjectService:
    def __init__(self, projects: ProjectRecords, clock: Clock) -> None:
        self.projects = projects
        self.clock = clock

    def create(self, name: str, public: bool, caller: Caller) -> Project:
        if not is_valid_project_name(name):
            raise AccessInvalid(
                f"invalid project name {name[:80]!r}: one repository path component"
                " (a-z 0-9, separated by '.', '_', '__' or dashes)"
            )
        project = self.projects.create(name, public, caller.as_actor(), self.clock())
        if project is None:
            raise AccessConflict(f"project {name!r} exists")
        return project

    def get(self, name: str) -> Project:
        project = self.projects.get(name)
        if project is None:
            raise AccessNotFound(f"no project {name[:80]!r}")
        return project

    def all(self) -> list[Project]:
        return self.projects.all()

    def set_public(self, name: str, public: bool, caller: Caller) -> Project:
        if not self.projects.set_public(name, public, caller.as_actor(), self.clock()):
            raise AccessNotFound(f"no project {name[:80]!r}")
        return self.get(name)

    def delete(self, name: str, caller: Caller) -> None:
        """Remove an empty project with its memberships and robots' scopes on it; its
        quota, scan policy and rules stay, keyed by the name."""
        deleted, holding = self.projects.delete_empty(name, caller.as_actor(), self.clock())
        if holding:
            raise ProjectNotEmpty(
                f"project {name!r} still holds images in {', '.join(holding)}: delete them"
                " first (cargohold rm), then the project",
                detail={"repositories": holding},
            )
        if not deleted:
            raise AccessNotFound(f"no project {name[:80]!r}")

    # -- members ----------------------------------------------------------------------------

    def members(self, project: str) -> list[Membership]:
        self.get(project)
        return self.projects.members(project)

    def add_member(self, project: str, user: str, role: str, caller: Caller) -> Membership:
        """A new member; AccessConflict when the user is one already (change its role)."""
        checked = self._role(role)
        self.get(project)
        if self.projects.member(project, user) is not None:
            raise AccessConflict(f"{user!r} is a member of {project!r} already: change its role")
        return self._set(project, user, checked, caller)

    def change_role(self, project: str, user: str, role: str, caller: Caller) -> Membership:
        checked = self._role(role)
        if self.projects.member(project, user) is None:
            self.get(project)
            raise AccessNotFound(f"{user[:80]!r} is not a member of {project!r}")
        return self._set(project, user, checked, caller)

    def remove_member(self, project: str, user: str, caller: Caller) -> None:
        if not self.projects.remove_member(project, user, caller.as_actor(), self.clock()):
            self.get(project)
            raise AccessNotFound(f"{user[:80]!r} is not a member of {project!r}")

    def _set(self, project: str, user: str, role: str, caller: Caller) -> Membership:
        if not self.projects.set_member(project, user, role, caller.as_actor(), self.clock()):
            self.get(project)
            raise AccessNotFound(f"no user {user[:80]!r}")
        return Membership(project, user, role)

    @staticmethod
    def _role(text: str) -> str:
        try:
            return parse_role(text[:40]).value
        except ValueError as exc:
            raise AccessInvalid(str(exc)) from None
