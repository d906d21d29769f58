"""Stored user accounts. Passwords are kept only as argon2 hashes (services/identity.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from cargohold.meta.audit_fields import Actor
from cargohold.meta.database import Database
from cargohold.meta.token_revocations import revoke_tokens

_COLUMNS = "id, name, password_hash, system_admin, disabled, created_at, updated_at"


@dataclass(frozen=True)
class User:
    id: int
    name: str
    # The argon2 hash, never the password; left out of repr so it does not reach a log.
    password_hash: str = field(repr=False)
    system_admin: bool
    disabled: bool
    created_at: float
    updated_at: float


def _user(row: tuple[object, ...]) -> User:
    return User(
        id=int(row[0]),  # type: ignore[arg-type]
        name=str(row[1]),
        password_hash=str(row[2]),
        system_admin=bool(row[3]),
        disabled=bool(row[4]),
        created_at=float(row[5]),  # type: ignore[arg-type]
        updated_at=float(row[6]),  # type: ignore[arg-type]
    )


class UserRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(
        self, name: str, password_hash: str, system_admin: bool, actor: Actor, now: float
    ) -> User | None:
        """The new user, or None when the name is taken (another node may have won a race)."""
        with self.db.transaction() as tx:
            row = tx.one(
                "INSERT INTO users (name, password_hash, system_admin, disabled, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING"
                f" RETURNING {_COLUMNS}",
                (name, password_hash, system_admin, False, now, now),
            )
            if row is None:
                return None
            self.db.audit(tx, now, actor, "user.create", name, {"system_admin": system_admin})
        return _user(row)

    def by_name(self, name: str) -> User | None:
        row = self.db.one(f"SELECT {_COLUMNS} FROM users WHERE name = ?", (name,))
        return _user(row) if row else None

    def by_id(self, user_id: int) -> User | None:
        row = self.db.one(f"SELECT {_COLUMNS} FROM users WHERE id = ?", (user_id,))
        return _user(row) if row else None

    def all(self) -> list[User]:
        return [_user(row) for row in self.db.rows(f"SELECT {_COLUMNS} FROM users ORDER BY name")]

    def count(self) -> int:
        row = self.db.one("SELECT COUNT(*) FROM users")
        return int(row[0]) if row else 0

    def set_password_hash(self, name: str, password_hash: str, actor: Actor, now: float) -> bool:
        """A new password (a reset or a change, audited): the hash is replaced and every
        refresh token of the user ends with the old password."""
        with self.db.transaction() as tx:
            changed = tx.execute(
                "UPDATE users SET password_hash = ?, updated_at = ? WHERE name = ?",
                (password_hash, now, name),
            )
            if changed:
                tx.execute(
                    "DELETE FROM refresh_tokens WHERE user_id IN"
                    " (SELECT id FROM users WHERE name = ?)",
                    (name,),
                )
                revoke_tokens(tx, name, now)
                self.db.audit(tx, now, actor, "user.password", name, {})
        return changed > 0

    def rehash_password(self, name: str, password_hash: str, now: float) -> bool:
        """The same password hashed with newer parameters: nothing else changes."""
        with self.db.transaction() as tx:
            changed = tx.execute(
                "UPDATE users SET password_hash = ?, updated_at = ? WHERE name = ?",
                (password_hash, now, name),
            )
        return changed > 0

    def set_flags(
        self,
        name: str,
        actor: Actor,
        now: float,
        system_admin: bool | None = None,
        disabled: bool | None = None,
    ) -> bool:
        """Change the system-admin or disabled flag (None leaves one as it is)."""
        with self.db.transaction() as tx:
            before = tx.one("SELECT system_admin, disabled FROM users WHERE name = ?", (name,))
            changed = tx.execute(
                "UPDATE users SET system_admin = COALESCE(?, system_admin),"
                " disabled = COALESCE(?, disabled), updated_at = ? WHERE name = ?",
                (system_admin, disabled, now, name),
            )
            if before is not None and (
                (disabled is True and not before[1]) or (system_admin is False and before[0])
            ):
                revoke_tokens(tx, name, now)  # disabled, or no longer a system admin
            if changed:
                detail = {
                    key: value
                    for key, value in (("system_admin", system_admin), ("disabled", disabled))
                    if value is not None
                }
                self.db.audit(tx, now, actor, "user.update", name, detail)
        return changed > 0

    def delete(self, name: str, actor: Actor, now: float) -> bool:
        """Remove the user with its memberships, personal access tokens and refresh tokens."""
        with self.db.transaction() as tx:
            row = tx.one("SELECT id FROM users WHERE name = ?", (name,))
            if row is None:
                return False
            # Explicit, not only ON DELETE CASCADE: SQLite enforces it per connection pragma.
            tx.execute("DELETE FROM project_members WHERE user_id = ?", (row[0],))
            tx.execute("DELETE FROM refresh_tokens WHERE user_id = ?", (row[0],))
            revoke_tokens(tx, name, now)
            tx.execute("DELETE FROM access_tokens WHERE user_id = ?", (row[0],))
            tx.execute("DELETE FROM users WHERE id = ?", (row[0],))
            self.db.audit(tx, now, actor, "user.delete", name, {})
        return True
