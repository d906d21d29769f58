"""Stored personal access tokens: a user's named, expiring stand-ins for its password.

A token is kept only as its SHA-256 digest, which is also how it is found.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cargohold.meta.audit_fields import Actor
from cargohold.meta.database import Database
from cargohold.meta.token_revocations import revoke_tokens

_COLUMNS = (
    "t.id, t.user_id, u.name, t.name, t.token_hash, t.expires_at, t.last_used_at, t.created_at"
)
_FROM = "FROM access_tokens t JOIN users u ON u.id = t.user_id"


@dataclass(frozen=True)
class AccessToken:
    id: int
    user_id: int
    owner: str
    name: str
    # SHA-256 of the token, never the token; left out of repr so it does not reach a log.
    token_hash: str = field(repr=False)
    # None: never expires.
    expires_at: float | None
    last_used_at: float | None
    created_at: float


def _token(row: tuple[object, ...]) -> AccessToken:
    return AccessToken(
        id=int(row[0]),  # type: ignore[arg-type]
        user_id=int(row[1]),  # type: ignore[arg-type]
        owner=str(row[2]),
        name=str(row[3]),
        token_hash=str(row[4]),
        expires_at=None if row[5] is None else float(row[5]),  # type: ignore[arg-type]
        last_used_at=None if row[6] is None else float(row[6]),  # type: ignore[arg-type]
        created_at=float(row[7]),  # type: ignore[arg-type]
    )


class AccessTokenRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(
        self,
        owner: str,
        name: str,
        token_hash: str,
        expires_at: float | None,
        actor: Actor,
        now: float,
    ) -> AccessToken | None:
        """The new token, or None when the owner has no such user or a token of that name."""
        with self.db.transaction() as tx:
            row = tx.one(
                "INSERT INTO access_tokens (user_id, name, token_hash, expires_at, created_at)"
                " SELECT id, ?, ?, ?, ? FROM users WHERE name = ?"
                " ON CONFLICT (user_id, name) DO NOTHING RETURNING id",
                (name, token_hash, expires_at, now, owner),
            )
            if row is None:
                return None
            self.db.audit(
                tx, now, actor, "token.create", owner, {"name": name, "expires_at": expires_at}
            )
            created = tx.one(f"SELECT {_COLUMNS} {_FROM} WHERE t.id = ?", (row[0],))
        assert created is not None
        return _token(created)

    def by_hash(self, token_hash: str) -> AccessToken | None:
        row = self.db.one(f"SELECT {_COLUMNS} {_FROM} WHERE t.token_hash = ?", (token_hash,))
        return _token(row) if row else None

    def of_owner(self, owner: str) -> list[AccessToken]:
        rows = self.db.rows(f"SELECT {_COLUMNS} {_FROM} WHERE u.name = ? ORDER BY t.name", (owner,))
        return [_token(row) for row in rows]

    def touch(self, token_id: int, now: float, coarser_than: float) -> None:
        """Record a use, at most once per `coarser_than` seconds: a CI job authenticating on
        every request must not turn each into a write."""
        with self.db.transaction() as tx:
            tx.execute(
                "UPDATE access_tokens SET last_used_at = ? WHERE id = ?"
                " AND (last_used_at IS NULL OR last_used_at < ?)",
                (now, token_id, now - coarser_than),
            )

    def delete(self, owner: str, name: str, actor: Actor, now: float) -> bool:
        with self.db.transaction() as tx:
            # What the token obtained ends with it (explicit: SQLite cascades only with a pragma).
            tx.execute(
                "DELETE FROM refresh_tokens WHERE access_token_id IN (SELECT t.id FROM"
                " access_tokens t JOIN users u ON u.id = t.user_id WHERE t.name = ?"
                " AND u.name = ?)",
                (name, owner),
            )
            removed = tx.execute(
                "DELETE FROM access_tokens WHERE name = ?"
                " AND user_id IN (SELECT id FROM users WHERE name = ?)",
                (name, owner),
            )
            if removed:
                # And the registry tokens it obtained: the owner's stop counting.
                revoke_tokens(tx, owner, now)
                self.db.audit(tx, now, actor, "token.delete", owner, {"name": name})
        return removed > 0
