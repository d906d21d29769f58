"""Stored robot accounts: scoped, expiring credentials for CI.

The secret is kept only as its SHA-256 digest (services/robots.py makes and checks it).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field

from cargohold.meta.audit_fields import Actor
from cargohold.meta.database import Database
from cargohold.meta.fastpath import Transaction
from cargohold.meta.token_revocations import revoke_tokens

_COLUMNS = (
    "id, name, description, secret_hash, expires_at, revoked, created_at, created_by,"
    " secret_updated_at"
)
_JOINED_COLUMNS = ", ".join(f"r.{column.strip()}" for column in _COLUMNS.split(","))


@dataclass(frozen=True)
class RobotScope:
    """What a robot may do in one project ("*": in every project)."""

    project: str
    actions: tuple[str, ...]


@dataclass(frozen=True)
class Robot:
    id: int
    name: str
    description: str
    # SHA-256 of the secret, never the secret; left out of repr so it does not reach a log.
    secret_hash: str = field(repr=False)
    # None: never expires.
    expires_at: float | None
    revoked: bool
    created_at: float
    created_by: str
    secret_updated_at: float
    scopes: tuple[RobotScope, ...]


def _scopes(rows: Iterable[tuple[object, ...]]) -> tuple[RobotScope, ...]:
    return _parsed_scopes(tuple(sorted((str(project), str(actions)) for project, actions in rows)))


@functools.lru_cache(maxsize=1024)
def _parsed_scopes(rows: tuple[tuple[str, str], ...]) -> tuple[RobotScope, ...]:
    """The scopes of (project, comma-separated actions) rows, parsed once per distinct set: a
    robot's every token request reads them."""
    return tuple(
        RobotScope(project, tuple(a for a in actions.split(",") if a)) for project, actions in rows
    )


def _robot(row: tuple[object, ...], scopes: tuple[RobotScope, ...]) -> Robot:
    return Robot(
        id=int(row[0]),  # type: ignore[arg-type]
        name=str(row[1]),
        description=str(row[2]),
        secret_hash=str(row[3]),
        expires_at=None if row[4] is None else float(row[4]),  # type: ignore[arg-type]
        revoked=bool(row[5]),
        created_at=float(row[6]),  # type: ignore[arg-type]
        created_by=str(row[7]),
        secret_updated_at=float(row[8]),  # type: ignore[arg-type]
        scopes=scopes,
    )


def _insert_scopes(tx: Transaction, robot_id: int, scopes: Iterable[RobotScope]) -> None:
    tx.executemany(
        "INSERT INTO robot_scopes (robot_id, project, actions) VALUES (?, ?, ?)",
        [(robot_id, s.project, ",".join(sorted(set(s.actions)))) for s in scopes],
    )


def _end_refresh_tokens(tx: Transaction, name: str, now: float) -> None:
    """A new secret, or a revocation, ends what the old secret obtained: its refresh tokens
    and its registry tokens."""
    tx.execute(
        "DELETE FROM refresh_tokens WHERE robot_id IN (SELECT id FROM robots WHERE name = ?)",
        (name,),
    )
    revoke_tokens(tx, name, now)


class RobotRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(
        self,
        name: str,
        description: str,
        secret_hash: str,
        scopes: Iterable[RobotScope],
        expires_at: float | None,
        actor: Actor,
        now: float,
    ) -> Robot | None:
        """The new robot, or None when the name is taken."""
        scopes = tuple(scopes)
        with self.db.transaction() as tx:
            row = tx.one(
                "INSERT INTO robots (name, description, secret_hash, expires_at, revoked,"
                " created_at, created_by, secret_updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                f" ON CONFLICT (name) DO NOTHING RETURNING {_COLUMNS}",
                (name, description, secret_hash, expires_at, False, now, actor.name, now),
            )
            if row is None:
                return None
            _insert_scopes(tx, int(row[0]), scopes)
            detail = {
                "scopes": [{"project": s.project, "actions": list(s.actions)} for s in scopes],
                "expires_at": expires_at,
            }
            self.db.audit(tx, now, actor, "robot.create", name, detail)
        return _robot(row, _scopes((s.project, ",".join(sorted(set(s.actions)))) for s in scopes))

    def by_name(self, name: str) -> Robot | None:
        """The robot and its scopes in one query (every token request of a robot reads it):
        a row per scope, or one with no scope (NULL project) for a robot that has none."""
        rows = self.db.rows(
            f"SELECT {_JOINED_COLUMNS}, s.project, s.actions FROM robots r"
            " LEFT JOIN robot_scopes s ON s.robot_id = r.id WHERE r.name = ?",
            (name,),
        )
        if not rows:
            return None
        scopes = [row[-2:] for row in rows if row[-2] is not None]
        return _robot(rows[0], _scopes(scopes))

    def all(self) -> list[Robot]:
        scopes: dict[int, list[tuple[object, ...]]] = {}
        for robot_id, project, actions in self.db.rows(
            "SELECT robot_id, project, actions FROM robot_scopes"
        ):
            scopes.setdefault(int(robot_id), []).append((project, actions))
        rows = self.db.rows(f"SELECT {_COLUMNS} FROM robots ORDER BY name")
        return [_robot(row, _scopes(scopes.get(int(row[0]), []))) for row in rows]

    def replace_secret(
        self, name: str, secret_hash: str, expires_at: float | None, actor: Actor, now: float
    ) -> bool:
        """A refresh: a new secret (the old one stops working) and a new expiry."""
        with self.db.transaction() as tx:
            changed = tx.execute(
                "UPDATE robots SET secret_hash = ?, expires_at = ?, secret_updated_at = ?"
                " WHERE name = ? AND NOT revoked",
                (secret_hash, expires_at, now, name),
            )
            if changed:
                _end_refresh_tokens(tx, name, now)
                self.db.audit(tx, now, actor, "robot.refresh", name, {"expires_at": expires_at})
        return changed > 0

    def revoke(self, name: str, actor: Actor, now: float) -> bool:
        """Revoked for good: kept (for the audit trail), never accepted again."""
        with self.db.transaction() as tx:
            changed = tx.execute(
                "UPDATE robots SET revoked = ? WHERE name = ? AND NOT revoked", (True, name)
            )
            if changed:
                _end_refresh_tokens(tx, name, now)
                self.db.audit(tx, now, actor, "robot.revoke", name, {})
        return changed > 0

    def delete(self, name: str, actor: Actor, now: float) -> bool:
        with self.db.transaction() as tx:
            row = tx.one("SELECT id FROM robots WHERE name = ?", (name,))
            if row is None:
                return False
            tx.execute("DELETE FROM refresh_tokens WHERE robot_id = ?", (row[0],))
            revoke_tokens(tx, name, now)
            tx.execute("DELETE FROM robot_scopes WHERE robot_id = ?", (row[0],))
            tx.execute("DELETE FROM robots WHERE id = ?", (row[0],))
            self.db.audit(tx, now, actor, "robot.delete", name, {})
        return True
