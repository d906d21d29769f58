"""The access-control metadata modules on SQLite and PostgreSQL: users, projects and
members, robots and their scopes, personal access tokens, login-failure counters."""

from __future__ import annotations

from cargohold.meta.access_tokens import AccessTokenRecords
from cargohold.meta.audit import AuditFilter, AuditLog
from cargohold.meta.audit_fields import Actor
from cargohold.meta.database import Database
from cargohold.meta.login_failures import ACCOUNT, ADDRESS, FailureState, LoginFailureRecords
from cargohold.meta.projects import Membership, ProjectRecords
from cargohold.meta.robots import RobotRecords, RobotScope
from cargohold.meta.users import UserRecords

NOW = 1_800_000_000.0
ADMIN = Actor("admin", "password", "192.0.2.1", "cargohold-tests")
DAVE = Actor("dave", "password", "192.0.2.2", "cargohold-tests")


def test_users_are_created_once_and_keep_their_flags(database: Database) -> None:
    users = UserRecords(database)
    alice = users.create("alice", "$argon2id$fake", False, ADMIN, NOW)
    assert alice is not None and alice.name == "alice" and not alice.system_admin
    assert users.create("alice", "$argon2id$other", True, ADMIN, NOW) is None
    assert users.count() == 1
    assert users.set_flags("alice", ADMIN, NOW + 1, system_admin=True)
    assert users.set_flags("alice", ADMIN, NOW + 2, disabled=True)
    stored = users.by_name("alice")
    assert stored is not None and stored.system_admin and stored.disabled
    assert stored.updated_at == NOW + 2 and stored.created_at == NOW
    assert users.set_password_hash("alice", "$argon2id$new", ADMIN, NOW + 3)
    assert users.by_id(alice.id).password_hash == "$argon2id$new"  # type: ignore[union-attr]
    assert not users.set_password_hash("nobody", "x", ADMIN, NOW)
    assert "$argon2id" not in repr(stored)
    actions = [e.action for e in AuditLog(database).page(AuditFilter(), None, 10)]
    assert actions == ["user.password", "user.update", "user.update", "user.create"]


def test_projects_members_and_roles(database: Database) -> None:
    users, projects = UserRecords(database), ProjectRecords(database)
    bob = users.create("bob", "h", False, ADMIN, NOW)
    users.create("carol", "h", False, ADMIN, NOW)
    assert bob is not None
    assert projects.create("team", False, ADMIN, NOW) is not None
    assert projects.create("team", True, ADMIN, NOW) is None
    projects.create("open", True, ADMIN, NOW)
    assert projects.public_names() == {"open"}
    assert projects.set_member("team", "bob", "developer", ADMIN, NOW)
    assert projects.set_member("team", "bob", "maintainer", ADMIN, NOW)  # replaces
    assert projects.set_member("open", "bob", "guest", ADMIN, NOW)
    assert projects.set_member("team", "carol", "guest", ADMIN, NOW)
    assert not projects.set_member("team", "nobody", "guest", ADMIN, NOW)
    assert not projects.set_member("nothing", "bob", "guest", ADMIN, NOW)
    assert projects.roles_of(bob.id) == {"team": "maintainer", "open": "guest"}
    assert projects.members("team") == [
        Membership("team", "bob", "maintainer"),
        Membership("team", "carol", "guest"),
    ]
    assert projects.remove_member("team", "carol", ADMIN, NOW)
    assert not projects.remove_member("team", "carol", ADMIN, NOW)
    assert projects.set_public("team", True, ADMIN, NOW)
    assert projects.get("team").public  # type: ignore[union-attr]
    assert users.delete("bob", ADMIN, NOW)
    assert projects.members("team") == [] and projects.members("open") == []
    assert projects.delete("team", ADMIN, NOW) and projects.get("team") is None
    # Membership changes are audited with who made them, from where, and the project.
    members = AuditLog(database).page(AuditFilter(project="team", action="member.set"), None, 10)
    assert [(e.detail, e.actor, e.method, e.address, e.user_agent) for e in members] == [
        ({"user": "carol", "role": "guest"}, "admin", "password", "192.0.2.1", "cargohold-tests"),
        (
            {"user": "bob", "role": "maintainer"},
            "admin",
            "password",
            "192.0.2.1",
            "cargohold-tests",
        ),
        ({"user": "bob", "role": "developer"}, "admin", "password", "192.0.2.1", "cargohold-tests"),
    ]


def test_robots_keep_scopes_expiry_and_revocation(database: Database) -> None:
    robots = RobotRecords(database)
    scopes = [RobotScope("team", ("push", "pull")), RobotScope("*", ("pull",))]
    robot = robots.create("robot$ci", "CI", "ab" * 32, scopes, NOW + 60, ADMIN, NOW)
    assert robot is not None
    assert robot.scopes == (RobotScope("*", ("pull",)), RobotScope("team", ("pull", "push")))
    assert robots.create("robot$ci", "", "cd" * 32, scopes, None, ADMIN, NOW) is None
    assert robots.by_name("robot$ci") == robot
    assert robots.all() == [robot]
    assert robots.replace_secret("robot$ci", "ef" * 32, None, ADMIN, NOW + 5)
    refreshed = robots.by_name("robot$ci")
    assert refreshed is not None and refreshed.expires_at is None
    assert refreshed.secret_hash == "ef" * 32 and refreshed.secret_updated_at == NOW + 5
    assert robots.revoke("robot$ci", ADMIN, NOW + 6)
    assert not robots.revoke("robot$ci", ADMIN, NOW + 7)
    assert not robots.replace_secret("robot$ci", "00" * 32, None, ADMIN, NOW + 8)
    assert robots.by_name("robot$ci").revoked  # type: ignore[union-attr]
    assert robots.delete("robot$ci", ADMIN, NOW + 9) and robots.all() == []


def test_access_tokens_are_found_by_digest_and_belong_to_one_user(database: Database) -> None:
    users, tokens = UserRecords(database), AccessTokenRecords(database)
    users.create("dave", "h", False, ADMIN, NOW)
    token = tokens.create("dave", "laptop", "11" * 32, NOW + 3600, DAVE, NOW)
    assert token is not None and token.owner == "dave" and token.last_used_at is None
    assert tokens.create("dave", "laptop", "22" * 32, None, DAVE, NOW) is None
    assert tokens.create("nobody", "x", "33" * 32, None, DAVE, NOW) is None
    assert tokens.by_hash("11" * 32) == token
    tokens.touch(token.id, NOW + 10, 60)
    tokens.touch(token.id, NOW + 20, 60)  # within the resolution: not written
    assert tokens.by_hash("11" * 32).last_used_at == NOW + 10  # type: ignore[union-attr]
    assert [t.name for t in tokens.of_owner("dave")] == ["laptop"]
    assert tokens.delete("dave", "laptop", DAVE, NOW)
    assert tokens.by_hash("11" * 32) is None


def test_login_failures_count_atomically_per_kind(database: Database) -> None:
    failures = LoginFailureRecords(database)
    assert failures.get(ACCOUNT, "eve") is None

    def bump(state: FailureState | None) -> FailureState:
        count = 1 if state is None else state.failures + 1
        return FailureState(ACCOUNT, "eve", count, NOW + count, NOW + 900 if count >= 3 else None)

    for _ in range(3):
        last = failures.record(ACCOUNT, "eve", bump)
    assert last == FailureState(ACCOUNT, "eve", 3, NOW + 3, NOW + 900)
    assert failures.get(ACCOUNT, "eve") == last
    assert failures.get(ADDRESS, "eve") is None
    # A login reads the account's and the address's counts at once; a subject not asked
    # about, or with no failures, is None.
    assert failures.get_both("eve", "192.0.2.9") == (last, None)
    assert failures.get_both(None, "192.0.2.9") == (None, None)
    failures.record(
        ADDRESS, "192.0.2.9", lambda s: FailureState(ADDRESS, "192.0.2.9", 1, NOW, None)
    )
    by_address = failures.get(ADDRESS, "192.0.2.9")
    assert by_address is not None
    assert failures.get_both("eve", "192.0.2.9") == (last, by_address)
    assert failures.get_both(None, "192.0.2.9") == (None, by_address)
    assert failures.get_both("192.0.2.9", None) == (None, None)  # kinds are apart
    failures.clear(ADDRESS, "192.0.2.9")
    failures.clear(ACCOUNT, "eve")
    assert failures.get(ACCOUNT, "eve") is None
    failures.record(
        ADDRESS, "192.0.2.1", lambda s: FailureState(ADDRESS, "192.0.2.1", 1, NOW, None)
    )
    assert failures.purge(NOW + 1) == 1
