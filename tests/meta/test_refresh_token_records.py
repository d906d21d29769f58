"""Stored refresh tokens on SQLite and PostgreSQL: found by digest, one holder each, expired
ones dropped, and ended in the transaction that ends their holder's credential."""

from __future__ import annotations

import pytest

from cargohold.meta.access_tokens import AccessTokenRecords
from cargohold.meta.audit import AuditFilter, AuditLog
from cargohold.meta.audit_fields import Actor
from cargohold.meta.database import Database
from cargohold.meta.refresh_tokens import Holder, RefreshTokenRecords
from cargohold.meta.robots import RobotRecords, RobotScope
from cargohold.meta.users import UserRecords

NOW = 1_800_000_000.0
DAY = 86400.0
ADMIN = Actor("admin", "password")


def test_a_refresh_token_is_found_by_digest_and_revoked_once(database: Database) -> None:
    users, tokens = UserRecords(database), RefreshTokenRecords(database)
    alice = users.create("alice", "h", False, ADMIN, NOW)
    assert alice is not None
    made = tokens.create(
        "aa" * 32, Holder("alice", user_id=alice.id), "docker", NOW + DAY, NOW, ADMIN
    )
    assert tokens.by_hash("aa" * 32) == made
    assert made.holder == Holder("alice", user_id=alice.id) and made.client_id == "docker"
    assert "aa" * 32 not in repr(made)
    tokens.touch(made.id, NOW + 10, 60)
    tokens.touch(made.id, NOW + 20, 60)  # within the resolution: not written
    assert tokens.by_hash("aa" * 32).last_used_at == NOW + 10  # type: ignore[union-attr]
    assert tokens.revoke("aa" * 32, NOW + 30, ADMIN).id == made.id  # type: ignore[union-attr]
    assert tokens.revoke("bb" * 32, NOW, ADMIN) is None
    assert tokens.by_hash("aa" * 32) is None
    assert tokens.revoke("aa" * 32, NOW + 40, ADMIN) is None
    entries = AuditLog(database).page(AuditFilter(), None, 10)
    assert [e.action for e in entries[:2]] == ["refresh_token.revoke", "refresh_token.create"]
    # Whoever presents the token acts as its holder.
    assert entries[0].actor == "alice"


def test_a_refresh_token_has_exactly_one_holder(database: Database) -> None:
    tokens = RefreshTokenRecords(database)
    with pytest.raises(ValueError):
        tokens.create("cc" * 32, Holder("nobody"), "", NOW + DAY, NOW, ADMIN)
    with pytest.raises(ValueError):
        tokens.create("cc" * 32, Holder("both", user_id=1, robot_id=1), "", NOW + DAY, NOW, ADMIN)


def test_expired_tokens_are_dropped_when_another_is_made(database: Database) -> None:
    users, tokens = UserRecords(database), RefreshTokenRecords(database)
    bob = users.create("bob", "h", False, ADMIN, NOW)
    assert bob is not None
    tokens.create("01" * 32, Holder("bob", user_id=bob.id), "", NOW + 10, NOW, ADMIN)
    tokens.create("02" * 32, Holder("bob", user_id=bob.id), "", NOW + DAY, NOW + 20, ADMIN)
    assert [t.token_hash for t in tokens.of_subject("bob")] == ["02" * 32]


def test_new_credentials_and_deletions_end_refresh_tokens(database: Database) -> None:
    users, tokens = UserRecords(database), RefreshTokenRecords(database)
    robots, pats = RobotRecords(database), AccessTokenRecords(database)
    carol = users.create("carol", "h", False, ADMIN, NOW)
    robot = robots.create("robot$ci", "", "00" * 32, [RobotScope("p", ("pull",))], None, ADMIN, NOW)
    pat = pats.create("carol", "laptop", "ff" * 32, None, ADMIN, NOW)
    assert carol is not None and robot is not None and pat is not None

    def make(digest: str, holder: Holder) -> str:
        tokens.create(digest, holder, "", NOW + DAY, NOW, ADMIN)
        return digest

    by_password = make("10" * 32, Holder("carol", user_id=carol.id))
    by_pat = make("11" * 32, Holder("carol", user_id=carol.id, access_token_id=pat.id))
    by_robot = make("12" * 32, Holder("robot$ci", robot_id=robot.id))

    users.rehash_password("carol", "h2", NOW)  # the same password: nothing ends
    assert tokens.by_hash(by_password) is not None
    assert pats.delete("carol", "laptop", Actor("carol", "password"), NOW)
    assert tokens.by_hash(by_pat) is None and tokens.by_hash(by_password) is not None
    assert users.set_password_hash("carol", "h3", ADMIN, NOW)
    assert tokens.by_hash(by_password) is None

    assert robots.replace_secret("robot$ci", "01" * 32, None, ADMIN, NOW)
    assert tokens.by_hash(by_robot) is None
    again = make("13" * 32, Holder("robot$ci", robot_id=robot.id))
    assert robots.delete("robot$ci", ADMIN, NOW) and tokens.by_hash(again) is None

    last = make("14" * 32, Holder("carol", user_id=carol.id))
    assert users.delete("carol", ADMIN, NOW) and tokens.by_hash(last) is None
