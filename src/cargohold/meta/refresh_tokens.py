"""Stored refresh tokens: what the token endpoint hands out for `offline_token=true` (or an
OAuth2 `access_type=offline`), to get registry tokens later without the password.

A token is kept only as its SHA-256 digest, which is also how it is found. It belongs to one
user or one robot; one obtained with a personal access token names that token too. Deleting
the user, robot or personal access token deletes its refresh tokens (users.py, robots.py and
access_tokens.py do it in the same transaction), and so does a new password or robot secret.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from cargohold.meta.audit_fields import Actor
from cargohold.meta.database import Database

_COLUMNS = (
    "id, token_hash, user_id, robot_id, access_token_id, subject, client_id, created_at,"
    " expires_at, last_used_at"
)


@dataclass(frozen=True)
class Holder:
    """Whose a refresh token is: exactly one of a user and a robot, and the personal access
    token it was obtained with, if any."""

    subject: str
    user_id: int | None = None
    robot_id: int | None = None
    access_token_id: int | None = None


@dataclass(frozen=True)
class RefreshToken:
    id: int
    # SHA-256 of the token, never the token; left out of repr so it does not reach a log.
    token_hash: str = field(repr=False)
    holder: Holder
    client_id: str
    created_at: float
    expires_at: float
    last_used_at: float | None


def _optional_id(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]


def _refresh_token(row: tuple[object, ...]) -> RefreshToken:
    return RefreshToken(
        id=int(row[0]),  # type: ignore[call-overload]
        token_hash=str(row[1]),
        holder=Holder(
            subject=str(row[5]),
            user_id=_optional_id(row[2]),
            robot_id=_optional_id(row[3]),
            access_token_id=_optional_id(row[4]),
        ),
        client_id=str(row[6]),
        created_at=float(row[7]),  # type: ignore[arg-type]
        expires_at=float(row[8]),  # type: ignore[arg-type]
        last_used_at=None if row[9] is None else float(row[9]),  # type: ignore[arg-type]
    )


class RefreshTokenRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(
        self,
        token_hash: str,
        holder: Holder,
        client_id: str,
        expires_at: float,
        now: float,
        actor: Actor,
    ) -> RefreshToken:
        """Store a new token, audited under `actor` (the holder signing in), and drop the
        expired ones of every holder on the way: each `docker login` makes one, and nothing
        else would ever remove them."""
        if (holder.user_id is None) == (holder.robot_id is None):
            raise ValueError("a refresh token belongs to exactly one user or robot")
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM refresh_tokens WHERE expires_at <= ?", (now,))
            row = tx.one(
                "INSERT INTO refresh_tokens (token_hash, user_id, robot_id, access_token_id,"
                " subject, client_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                f" RETURNING {_COLUMNS}",
                (
                    token_hash,
                    holder.user_id,
                    holder.robot_id,
                    holder.access_token_id,
                    holder.subject,
                    client_id,
                    now,
                    expires_at,
                ),
            )
            assert row is not None
            self.db.audit(
                tx,
                now,
                actor,
                "refresh_token.create",
                holder.subject,
                {"client_id": client_id, "expires_at": expires_at, "id": int(row[0])},
            )
        return _refresh_token(row)

    def by_hash(self, token_hash: str) -> RefreshToken | None:
        row = self.db.one(
            f"SELECT {_COLUMNS} FROM refresh_tokens WHERE token_hash = ?", (token_hash,)
        )
        return _refresh_token(row) if row else None

    def of_subject(self, subject: str) -> list[RefreshToken]:
        rows = self.db.rows(
            f"SELECT {_COLUMNS} FROM refresh_tokens WHERE subject = ? ORDER BY id", (subject,)
        )
        return [_refresh_token(row) for row in rows]

    def touch(self, token_id: int, now: float, coarser_than: float) -> None:
        """Record a use, at most once per `coarser_than` seconds (docker uses its refresh
        token for every pull and push)."""
        with self.db.transaction() as tx:
            tx.execute(
                "UPDATE refresh_tokens SET last_used_at = ? WHERE id = ?"
                " AND (last_used_at IS NULL OR last_used_at < ?)",
                (now, token_id, now - coarser_than),
            )

    def revoke(self, token_hash: str, now: float, origin: Actor) -> RefreshToken | None:
        """Delete the token; the one deleted, or None when there was none. Whoever presents
        a token acts as its holder: the entry names the holder, with `origin`'s method,
        address and user agent."""
        with self.db.transaction() as tx:
            row = tx.one(
                f"DELETE FROM refresh_tokens WHERE token_hash = ? RETURNING {_COLUMNS}",
                (token_hash,),
            )
            if row is None:
                return None
            revoked = _refresh_token(row)
            self.db.audit(
                tx,
                now,
                replace(origin, name=revoked.holder.subject),
                "refresh_token.revoke",
                revoked.holder.subject,
                {"client_id": revoked.client_id, "id": revoked.id},
            )
        return revoked
