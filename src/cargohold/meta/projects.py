"""Stored projects (the first component of a repository name) and their members' roles."""

from __future__ import annotations

from dataclasses import dataclass

from cargohold.meta.audit_fields import Actor
from cargohold.meta.database import Database
from cargohold.meta.fastpath import Transaction
from cargohold.meta.token_revocations import anonymous_in, revoke_tokens
from cargohold.oci.names import is_valid_name

_COLUMNS = "id, name, public, created_at, created_by"


@dataclass(frozen=True)
class Project:
    id: int
    name: str
    # Public: anyone, signed in or not, may pull from it.
    public: bool
    created_at: float
    created_by: str


@dataclass(frozen=True)
class Membership:
    project: str
    user: str
    # One of policy.permissions.Role's values.
    role: str


def _project(row: tuple[object, ...]) -> Project:
    return Project(int(row[0]), str(row[1]), bool(row[2]), float(row[3]), str(row[4]))  # type: ignore[arg-type]


class ProjectRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, name: str, public: bool, actor: Actor, now: float) -> Project | None:
        """The new project, or None when one of that name exists."""
        with self.db.transaction() as tx:
            row = tx.one(
                "INSERT INTO projects (name, public, created_at, created_by) VALUES (?, ?, ?, ?)"
                f" ON CONFLICT (name) DO NOTHING RETURNING {_COLUMNS}",
                (name, public, now, actor.name),
            )
            if row is None:
                return None
            self.db.audit(tx, now, actor, "project.create", name, {"public": public}, project=name)
        return _project(row)

    def get(self, name: str) -> Project | None:
        row = self.db.one(f"SELECT {_COLUMNS} FROM projects WHERE name = ?", (name,))
        return _project(row) if row else None

    def is_public(self, name: str) -> bool:
        """Whether anyone may pull from the project (a project without a row is private).
        The access check asks this of a request's path or a token request's scope before
        anything validates them: a name no project can have is not looked up (PostgreSQL text
        cannot even hold a NUL)."""
        if not is_valid_name(name):
            return False
        row = self.db.one("SELECT public FROM projects WHERE name = ?", (name,))
        return bool(row and row[0])

    def all(self) -> list[Project]:
        rows = self.db.rows(f"SELECT {_COLUMNS} FROM projects ORDER BY name")
        return [_project(row) for row in rows]

    def public_names(self) -> set[str]:
        return set(self.db.column("SELECT name FROM projects WHERE public"))

    def set_public(self, name: str, public: bool, actor: Actor, now: float) -> bool:
        """Make the project public or private; False when it does not exist. Made private,
        the anonymous registry tokens issued until now stop pulling from it (whatever pull
        an anonymous token has there came from the project being public)."""
        with self.db.transaction() as tx:
            was = tx.one("SELECT public FROM projects WHERE name = ?", (name,))
            if was is None:
                return False
            tx.execute("UPDATE projects SET public = ? WHERE name = ?", (public, name))
            if was[0] and not public:
                revoke_tokens(tx, anonymous_in(name), now)
            self.db.audit(tx, now, actor, "project.update", name, {"public": public}, project=name)
        return True

    def delete(self, name: str, actor: Actor, now: float) -> bool:
        """Remove the project row, its memberships and robots' scopes on it (not its
        repositories)."""
        with self.db.transaction() as tx:
            row = tx.one("SELECT id FROM projects WHERE name = ?", (name,))
            if row is None:
                return False
            self._delete(tx, int(row[0]), name, actor, now)
        return True

    def delete_empty(self, name: str, actor: Actor, now: float) -> tuple[bool, list[str]]:
        """Remove the project as `delete` does, only when none of its repositories holds a
        manifest, checked in the same transaction (a push cannot slip in between). Returns
        whether it was removed, and the repositories that still hold images (up to 10)."""
        with self.db.transaction() as tx:
            row = tx.one("SELECT id FROM projects WHERE name = ?", (name,))
            if row is None:
                return False, []
            # The project's repositories: `name` itself and every `name/...` ('0' follows '/'
            # in byte order, and repository names compare bytewise: decision 003).
            holding = tx.rows(
                "SELECT r.name FROM repositories r WHERE (r.name = ? OR (r.name > ?"
                " AND r.name < ?)) AND EXISTS (SELECT 1 FROM manifests m"
                " WHERE m.repository_id = r.id) ORDER BY r.name LIMIT 10",
                (name, name + "/", name + "0"),
            )
            if holding:
                return False, [str(r[0]) for r in holding]
            self._delete(tx, int(row[0]), name, actor, now)
        return True, []

    def _delete(
        self, tx: Transaction, project_id: int, name: str, actor: Actor, now: float
    ) -> None:
        # Whoever had rights in it loses them: their registry tokens stop counting.
        losing = tx.column(
            "SELECT u.name FROM project_members m JOIN users u ON u.id = m.user_id"
            " WHERE m.project_id = ? UNION SELECT r.name FROM robot_scopes s"
            " JOIN robots r ON r.id = s.robot_id WHERE s.project = ?",
            (project_id, name),
        )
        tx.execute("DELETE FROM project_members WHERE project_id = ?", (project_id,))
        for subject in sorted(losing):
            revoke_tokens(tx, str(subject), now)
        # Nor does the pull it gave while public last: a project of the same name made later
        # may be private (a project without a row is).
        revoke_tokens(tx, anonymous_in(name), now)
        # A robot's scope names the project: it must not come back with a new project of the
        # same name.
        tx.execute("DELETE FROM robot_scopes WHERE project = ?", (name,))
        tx.execute("DELETE FROM projects WHERE id = ?", (project_id,))
        self.db.audit(tx, now, actor, "project.delete", name, {}, project=name)

    # -- members ----------------------------------------------------------------------------

    def set_member(self, project: str, user: str, role: str, actor: Actor, now: float) -> bool:
        """Give the user the role in the project (replacing any role it had); False when the
        project or the user does not exist."""
        with self.db.transaction() as tx:
            ids = tx.one(
                "SELECT p.id, u.id FROM projects p, users u WHERE p.name = ? AND u.name = ?",
                (project, user),
            )
            if ids is None:
                return False
            had = tx.one(
                "SELECT role FROM project_members WHERE project_id = ? AND user_id = ?", ids
            )
            tx.execute(
                "INSERT INTO project_members (project_id, user_id, role, created_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (project_id, user_id)"
                " DO UPDATE SET role = excluded.role",
                (ids[0], ids[1], role, now),
            )
            if had is not None and had[0] != role:
                # Tokens granted under the old role stop counting (after the membership row,
                # the order every membership change takes its locks in).
                revoke_tokens(tx, user, now)
            detail = {"user": user, "role": role}
            self.db.audit(tx, now, actor, "member.set", project, detail, project=project)
        return True

    def remove_member(self, project: str, user: str, actor: Actor, now: float) -> bool:
        with self.db.transaction() as tx:
            removed = tx.execute(
                "DELETE FROM project_members WHERE project_id IN"
                " (SELECT id FROM projects WHERE name = ?)"
                " AND user_id IN (SELECT id FROM users WHERE name = ?)",
                (project, user),
            )
            if removed:
                revoke_tokens(tx, user, now)
                self.db.audit(
                    tx, now, actor, "member.remove", project, {"user": user}, project=project
                )
        return removed > 0

    def member(self, project: str, user: str) -> Membership | None:
        row = self.db.one(
            "SELECT p.name, u.name, m.role FROM project_members m"
            " JOIN projects p ON p.id = m.project_id JOIN users u ON u.id = m.user_id"
            " WHERE p.name = ? AND u.name = ?",
            (project, user),
        )
        return Membership(str(row[0]), str(row[1]), str(row[2])) if row else None

    def members(self, project: str) -> list[Membership]:
        rows = self.db.rows(
            "SELECT p.name, u.name, m.role FROM project_members m"
            " JOIN projects p ON p.id = m.project_id JOIN users u ON u.id = m.user_id"
            " WHERE p.name = ? ORDER BY u.name",
            (project,),
        )
        return [Membership(str(r[0]), str(r[1]), str(r[2])) for r in rows]

    def roles_of(self, user_id: int) -> dict[str, str]:
        """The user's role in each project it is a member of, by project name."""
        rows = self.db.rows(
            "SELECT p.name, m.role FROM project_members m JOIN projects p ON p.id = m.project_id"
            " WHERE m.user_id = ?",
            (user_id,),
        )
        return {str(r[0]): str(r[1]) for r in rows}
