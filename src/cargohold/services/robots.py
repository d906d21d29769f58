"""Robot accounts for CI: created with a secret shown once, scoped to projects and actions,
expiring (30 days by default; never only when a system admin says so), refreshed with a new
secret, revoked for good.

Whoever manages a robot may hand it only what they have themselves: a project admin (the
`policies` action) makes robots for its projects, a system admin for any (or every) project.
Changes are audited with the robot (in their transactions); a refused grant is noted in the
audit trail as denied.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from cargohold.meta.projects import ProjectRecords
from cargohold.meta.robots import Robot, RobotRecords, RobotScope
from cargohold.policy.permissions import (
    EVERY_PROJECT,
    POLICIES,
    PROJECT_ACTIONS,
    Principal,
    grantable,
    may,
)
from cargohold.services.access_errors import (
    AccessConflict,
    AccessInvalid,
    AccessNotFound,
    PermissionDenied,
)
from cargohold.services.audit import AuditTrail
from cargohold.services.caller import Caller
from cargohold.services.secrets_hashing import digest, new_secret

Clock = Callable[[], float]

# An expiry that says "never" (None means "the default").
NEVER = "never"
Expiry = int | str | None
_ROBOT_NAME = re.compile(r"[a-z0-9][a-z0-9._+-]{0,63}")


class RobotService:
    def __init__(
        self,
        robots: RobotRecords,
        projects: ProjectRecords,
        prefix: str,
        default_expiry_days: int,
        trail: AuditTrail,
        clock: Clock,
    ) -> None:
        self.robots = robots
        self.trail = trail
        self.projects = projects
        self.prefix = prefix
        self.default_expiry_days = default_expiry_days
        self.clock = clock

    def full_name(self, name: str) -> str:
        """The stored name: the prefix and the name given (which may carry it already)."""
        return name if name.startswith(self.prefix) else self.prefix + name

    def create(
        self,
        caller: Caller,
        name: str,
        scopes: Iterable[RobotScope],
        expires_in_days: Expiry = None,
        description: str = "",
    ) -> tuple[Robot, str]:
        """The new robot and its secret, which is shown this once and never stored. The
        caller's principal is the granter."""
        bare = name.removeprefix(self.prefix)
        if not _ROBOT_NAME.fullmatch(bare):
            raise AccessInvalid(
                f"invalid robot name {bare[:80]!r}: up to 64 of a-z 0-9 . _ + -, starting with"
                " a letter or digit"
            )
        granter = caller.principal
        now = self.clock()
        with self._denials_noted(caller, "robot.create", self.full_name(bare)):
            scopes = self._checked_scopes(granter, scopes)
            expires_at = self._expires_at(granter, expires_in_days, now)
        secret = new_secret()
        robot = self.robots.create(
            self.full_name(bare),
            description,
            digest(secret),
            scopes,
            expires_at,
            caller.as_actor(),
            now,
        )
        if robot is None:
            raise AccessConflict(f"robot {self.full_name(bare)!r} exists")
        return robot, secret

    def show(self, caller: Caller, name: str) -> Robot:
        """The robot, for a caller who may manage it (see _managed)."""
        return self._managed(caller, name, "robot.get")

    def _managed(self, caller: Caller, name: str, action: str) -> Robot:
        """The robot, for a caller about to do `action` on it: one that exists but is not
        theirs to manage is answered as missing all the same (not shown to exist), and noted
        as a denial."""
        robot = self.robots.by_name(self.full_name(name))
        if robot is not None and self.may_manage(caller.principal, robot):
            return robot
        if robot is not None:
            who = caller.principal.name or "anonymous"
            reason = f"{who} may not manage robot {robot.name!r}"
            self.trail.denied(caller, action, reason, target=robot.name)
        raise AccessNotFound(f"no robot {self.full_name(name)!r}")

    def list(self, granter: Principal) -> list[Robot]:
        return [r for r in self.robots.all() if self.may_manage(granter, r)]

    def refresh(
        self, caller: Caller, name: str, expires_in_days: Expiry = None
    ) -> tuple[Robot, str]:
        """A new secret (the old one stops working at once) and a new expiry."""
        robot = self._managed(caller, name, "robot.refresh")
        if robot.revoked:
            raise AccessInvalid(f"robot {robot.name!r} is revoked")
        now = self.clock()
        with self._denials_noted(caller, "robot.refresh", robot.name):
            expires_at = self._expires_at(caller.principal, expires_in_days, now)
        secret = new_secret()
        if not self.robots.replace_secret(
            robot.name, digest(secret), expires_at, caller.as_actor(), now
        ):
            raise AccessInvalid(f"robot {robot.name!r} is revoked")
        return self._as_stored(robot.name), secret

    def revoke(self, caller: Caller, name: str) -> Robot:
        """Revoke the robot (its secret, and what it obtained, stop working); the robot as it
        is now."""
        robot = self._managed(caller, name, "robot.revoke")
        self.robots.revoke(robot.name, caller.as_actor(), self.clock())
        return self._as_stored(robot.name)

    def _as_stored(self, name: str) -> Robot:
        """The robot as it is stored after a change (AccessNotFound: deleted meanwhile)."""
        robot = self.robots.by_name(name)
        if robot is None:
            raise AccessNotFound(f"no robot {name!r}")
        return robot

    def delete(self, caller: Caller, name: str) -> None:
        """Remove a robot and what its secret obtained (a revoked one too: revoking keeps it
        for the record, deleting does not)."""
        robot = self._managed(caller, name, "robot.delete")
        if not self.robots.delete(robot.name, caller.as_actor(), self.clock()):
            raise AccessNotFound(f"no robot {robot.name!r}")

    @contextmanager
    def _denials_noted(self, caller: Caller, action: str, robot: str) -> Iterator[None]:
        """Note a PermissionDenied raised inside as a denied `action` on the robot."""
        try:
            yield
        except PermissionDenied as denied:
            self.trail.denied(caller, action, str(denied), target=robot)
            raise

    def may_manage(self, granter: Principal, robot: Robot) -> bool:
        """A robot is managed by whoever could have created it: a system admin, or who has
        `policies` (a project admin) in each of its projects and every action it holds."""
        if granter.system_admin:
            return True
        return bool(robot.scopes) and all(
            may(granter, POLICIES, s.project)
            and grantable(granter, s.project, frozenset(s.actions), self._public(s.project))
            for s in robot.scopes
        )

    # -- checks -----------------------------------------------------------------------------

    def _public(self, project: str) -> bool:
        found = self.projects.get(project) if project != EVERY_PROJECT else None
        return bool(found and found.public)

    def _checked_scopes(self, granter: Principal, scopes: Iterable[RobotScope]) -> list[RobotScope]:
        checked: dict[str, set[str]] = {}
        for scope in scopes:
            unknown = set(scope.actions) - set(PROJECT_ACTIONS)
            if unknown or not scope.actions:
                raise AccessInvalid(
                    f"robot scope {scope.project!r}: actions must be some of "
                    f"{', '.join(PROJECT_ACTIONS)}"
                )
            if scope.project != EVERY_PROJECT and self.projects.get(scope.project) is None:
                raise AccessInvalid(f"no project {scope.project!r}")
            checked.setdefault(scope.project, set()).update(scope.actions)
        if not checked:
            raise AccessInvalid("a robot needs at least one project scope")
        for project, actions in checked.items():
            if project != EVERY_PROJECT and not may(granter, POLICIES, project):
                raise PermissionDenied(
                    f"{granter.name or 'anonymous'} may not make robots for {project!r}: that"
                    " takes a project admin (policies) there"
                )
            if not grantable(granter, project, frozenset(actions), self._public(project)):
                raise PermissionDenied(
                    f"{granter.name or 'anonymous'} may not grant {','.join(sorted(actions))}"
                    f" on {'every project' if project == EVERY_PROJECT else project!r}"
                )
        return [RobotScope(p, tuple(sorted(a))) for p, a in sorted(checked.items())]

    def _expires_at(self, granter: Principal, expires_in_days: Expiry, now: float) -> float | None:
        if expires_in_days is None:
            return now + self.default_expiry_days * 86400.0
        if expires_in_days == NEVER:
            if not granter.system_admin:
                raise PermissionDenied("only a system admin may create a robot that never expires")
            return None
        if isinstance(expires_in_days, bool) or not isinstance(expires_in_days, int):
            raise AccessInvalid("expires_in_days must be a number of days or 'never'")
        if expires_in_days < 1:
            raise AccessInvalid("expires_in_days must be 1 or more")
        return now + expires_in_days * 86400.0
