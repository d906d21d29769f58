"""Authentication, slowdown and lockout, the first admin, robots and personal access tokens,
over a real metadata store (SQLite and PostgreSQL) with an injected clock: no sleeps."""

from __future__ import annotations

from pathlib import Path

import pytest
from argon2 import PasswordHasher

from cargohold.config import load_settings
from cargohold.meta.robots import RobotScope
from cargohold.meta.store import MetadataStore
from cargohold.policy.permissions import ROBOT, USER, Principal, Role, repository_actions
from cargohold.services.access import AccessControl
from cargohold.services.access_errors import (
    AccessConflict,
    AccessInvalid,
    AuthenticationFailed,
    PermissionDenied,
)
from cargohold.services.identity import ACCESS_TOKEN, PASSWORD, ROBOT_SECRET
from cargohold.services.secrets_hashing import Passwords
from cargohold.wiring import build_access_control

NOW = 1_800_000_000.0
ADDRESS = "192.0.2.7"
ROOT = Principal(USER, "admin", system_admin=True)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def access(meta: MetadataStore, tmp_path: Path, clock: Clock) -> AccessControl:
    settings = load_settings(
        env={
            "CARGOHOLD_DATA_DIR": str(tmp_path),
            "CARGOHOLD_AUTH_LOCKOUT_THRESHOLD": "3",
            "CARGOHOLD_AUTH_ADDRESS_LOCKOUT_THRESHOLD": "5",
            "CARGOHOLD_AUTH_LOCKOUT_SECONDS": "600",
            "CARGOHOLD_AUTH_SLOWDOWN_BASE_SECONDS": "1",
            "CARGOHOLD_AUTH_SLOWDOWN_MAX_SECONDS": "8",
        }
    )
    control = build_access_control(settings, meta.db, clock)
    # Cheap argon2 parameters: the tests hash many passwords.
    control.identity.passwords = Passwords(PasswordHasher(time_cost=1, memory_cost=1024))
    return control


def all_stored_text(meta: MetadataStore) -> str:
    """Every row of the access tables and the audit log, as one string."""
    tables = ["users", "robots", "robot_scopes", "access_tokens", "audit_events"]
    return "\n".join(repr(meta.db.rows(f"SELECT * FROM {table}")) for table in tables)


def test_first_start_creates_an_admin_once(access: AccessControl) -> None:
    generated = access.identity.ensure_admin(None)
    assert generated is not None and len(generated) >= 16
    assert access.identity.ensure_admin(None) is None  # a second start creates nothing
    identity = access.identity.authenticate("admin", generated, ADDRESS)
    assert identity.method == PASSWORD and identity.principal.system_admin


def test_admin_password_from_the_environment_is_not_returned(access: AccessControl) -> None:
    assert access.identity.ensure_admin("from-the-env-123") is None
    assert access.identity.authenticate("admin", "from-the-env-123", ADDRESS).principal.name == (
        "admin"
    )


def test_passwords_authenticate_and_carry_roles(access: AccessControl, meta: MetadataStore) -> None:
    identity = access.identity
    identity.create_user("alice", "correct horse", False, "admin")
    access.stores.projects.create("team", False, "admin", NOW)
    access.stores.projects.set_member("team", "alice", Role.DEVELOPER, "admin", NOW)
    principal = identity.authenticate("alice", "correct horse", ADDRESS).principal
    assert principal.roles == {"team": Role.DEVELOPER}
    assert repository_actions(principal, "team/app", False) == {"pull", "push"}
    with pytest.raises(AccessConflict):
        identity.create_user("alice", "another one", False, "admin")
    with pytest.raises(AccessInvalid):
        identity.create_user("robot$x", "long enough", False, "admin")
    with pytest.raises(AccessInvalid):
        identity.create_user("bob", "short", False, "admin")
    assert "correct horse" not in all_stored_text(meta)


def test_failures_slow_down_then_lock_out_and_the_lock_expires(
    access: AccessControl, clock: Clock
) -> None:
    identity = access.identity
    identity.create_user("alice", "correct horse", False, "admin")
    with pytest.raises(AuthenticationFailed) as first:
        identity.authenticate("alice", "wrong", ADDRESS)
    assert first.value.retry_after == 1.0
    # Within the slowdown even the right password is not checked.
    with pytest.raises(AuthenticationFailed) as throttled:
        identity.authenticate("alice", "correct horse", ADDRESS)
    assert throttled.value.reason == "throttled"
    clock.now += 1
    with pytest.raises(AuthenticationFailed) as second:
        identity.authenticate("alice", "wrong", ADDRESS)
    assert second.value.retry_after == 2.0
    clock.now += 2
    with pytest.raises(AuthenticationFailed) as third:
        identity.authenticate("alice", "wrong", ADDRESS)
    assert third.value.retry_after == 600.0  # the threshold (3): locked
    clock.now += 599
    with pytest.raises(AuthenticationFailed) as locked:
        identity.authenticate("alice", "correct horse", "198.51.100.1")
    assert locked.value.reason == "locked" and locked.value.retry_after == 1.0
    clock.now += 1
    assert identity.authenticate("alice", "correct horse", "198.51.100.1").principal.name == (
        "alice"
    )
    # Success forgot the account's failures: one more mistake costs a second again.
    with pytest.raises(AuthenticationFailed) as fresh:
        identity.authenticate("alice", "wrong", "198.51.100.1")
    assert fresh.value.retry_after == 1.0


def test_an_address_trying_many_accounts_is_locked(access: AccessControl, clock: Clock) -> None:
    identity = access.identity
    identity.create_user("victim", "correct horse", False, "admin")
    for n in range(5):
        with pytest.raises(AuthenticationFailed):
            identity.authenticate(f"guess{n}", "password", ADDRESS)
        clock.now += 10
    with pytest.raises(AuthenticationFailed) as locked:
        identity.authenticate("victim", "correct horse", ADDRESS)
    assert locked.value.reason == "locked"
    # The account itself is not locked: from elsewhere it signs in.
    assert identity.authenticate("victim", "correct horse", "203.0.113.9").principal.name == (
        "victim"
    )


def test_failures_are_forgotten_after_the_lockout_period(
    access: AccessControl, clock: Clock
) -> None:
    identity = access.identity
    identity.create_user("alice", "correct horse", False, "admin")
    for _ in range(2):
        with pytest.raises(AuthenticationFailed):
            identity.authenticate("alice", "wrong", ADDRESS)
        clock.now += 5
    clock.now += 600
    with pytest.raises(AuthenticationFailed) as again:
        identity.authenticate("alice", "wrong", ADDRESS)
    assert again.value.retry_after == 1.0  # counted as the first, not the third


def test_reset_password_lifts_a_lockout(access: AccessControl, clock: Clock) -> None:
    identity = access.identity
    identity.create_user("alice", "correct horse", False, "admin")
    for _ in range(3):
        with pytest.raises(AuthenticationFailed):
            identity.authenticate("alice", "wrong", ADDRESS)
        clock.now += 10
    new = identity.reset_password("alice", None, "admin")
    assert identity.authenticate("alice", new, "203.0.113.9").principal.name == "alice"


def test_disabled_users_cannot_sign_in(access: AccessControl) -> None:
    access.identity.create_user("mallory", "correct horse", False, "admin")
    access.stores.users.set_flags("mallory", "admin", NOW, disabled=True)
    with pytest.raises(AuthenticationFailed) as failed:
        access.identity.authenticate("mallory", "correct horse", ADDRESS)
    assert failed.value.reason == "disabled"


# -- robots --------------------------------------------------------------------------------


def test_robot_secret_is_shown_once_and_stored_hashed(
    access: AccessControl, meta: MetadataStore, clock: Clock
) -> None:
    access.stores.projects.create("team", False, "admin", NOW)
    robot, secret = access.robots.create(ROOT, "ci", [RobotScope("team", ("pull", "push"))])
    assert robot.name == "robot$ci"
    assert robot.expires_at == NOW + 30 * 86400  # the default: 30 days
    assert secret not in all_stored_text(meta) and secret not in repr(robot)
    identity = access.identity.authenticate("robot$ci", secret, ADDRESS)
    assert identity.method == ROBOT_SECRET and identity.principal.kind == ROBOT
    assert repository_actions(identity.principal, "team/app", False) == {"pull", "push"}
    assert repository_actions(identity.principal, "other/app", False) == frozenset()


def test_robot_expires(access: AccessControl, clock: Clock) -> None:
    access.stores.projects.create("team", False, "admin", NOW)
    _, secret = access.robots.create(ROOT, "ci", [RobotScope("team", ("pull",))], 1)
    access.identity.authenticate("robot$ci", secret, ADDRESS)
    clock.now = NOW + 86400
    with pytest.raises(AuthenticationFailed) as failed:
        access.identity.authenticate("robot$ci", secret, ADDRESS)
    assert failed.value.reason == "robot expired"


def test_robot_refresh_replaces_the_secret_and_revoke_is_final(
    access: AccessControl, clock: Clock
) -> None:
    access.stores.projects.create("team", False, "admin", NOW)
    _, old = access.robots.create(ROOT, "ci", [RobotScope("team", ("pull",))])
    _, new = access.robots.refresh(ROOT, "ci", 7)
    clock.now += 2  # past the slowdown of the failure below
    with pytest.raises(AuthenticationFailed):
        access.identity.authenticate("robot$ci", old, ADDRESS)
    clock.now += 10
    access.identity.authenticate("robot$ci", new, ADDRESS)
    access.robots.revoke(ROOT, "robot$ci")
    with pytest.raises(AuthenticationFailed) as failed:
        access.identity.authenticate("robot$ci", new, ADDRESS)
    assert failed.value.reason == "robot revoked"
    with pytest.raises(AccessInvalid):
        access.robots.refresh(ROOT, "ci")


def test_never_expiring_robots_only_from_a_system_admin(access: AccessControl) -> None:
    access.stores.projects.create("team", False, "admin", NOW)
    project_admin = Principal(USER, "pa", roles={"team": Role.PROJECT_ADMIN})
    scope = [RobotScope("team", ("pull", "push"))]
    with pytest.raises(PermissionDenied):
        access.robots.create(project_admin, "forever", scope, "never")
    robot, _ = access.robots.create(ROOT, "forever", scope, "never")
    assert robot.expires_at is None
    created, _ = access.robots.create(project_admin, "monthly", scope)
    assert created.created_by == "pa"


def test_robots_get_no_more_than_their_creator_has(access: AccessControl) -> None:
    access.stores.projects.create("team", False, "admin", NOW)
    access.stores.projects.create("other", False, "admin", NOW)
    developer = Principal(USER, "dev", roles={"team": Role.DEVELOPER})
    with pytest.raises(PermissionDenied):
        access.robots.create(developer, "a", [RobotScope("team", ("delete",))])
    with pytest.raises(PermissionDenied):
        access.robots.create(developer, "b", [RobotScope("other", ("pull",))])
    with pytest.raises(PermissionDenied):
        access.robots.create(developer, "c", [RobotScope("*", ("pull",))])
    with pytest.raises(AccessInvalid):
        access.robots.create(ROOT, "d", [RobotScope("missing", ("pull",))])
    with pytest.raises(AccessInvalid):
        access.robots.create(ROOT, "e", [RobotScope("team", ("fly",))])
    robot, _ = access.robots.create(developer, "f", [RobotScope("team", ("push",))])
    assert access.robots.list(developer) == [robot]
    assert access.robots.list(Principal(USER, "stranger")) == []


# -- personal access tokens ----------------------------------------------------------------


def test_personal_access_tokens_stand_in_for_the_password(
    access: AccessControl, meta: MetadataStore, clock: Clock
) -> None:
    identity = access.identity
    identity.create_user("alice", "correct horse", True, "admin")
    token, text = identity.create_access_token("alice", "ci", 10)
    assert text.startswith("chpat_") and text not in all_stored_text(meta)
    signed_in = identity.authenticate("alice", text, ADDRESS)
    assert signed_in.method == ACCESS_TOKEN and signed_in.principal.system_admin
    assert access.stores.tokens.by_hash(token.token_hash).last_used_at == NOW  # type: ignore[union-attr]
    # Presented under another name, it is not accepted.
    identity.create_user("bob", "correct horse", False, "admin")
    with pytest.raises(AuthenticationFailed):
        identity.authenticate("bob", text, ADDRESS)
    clock.now = NOW + 10 * 86400
    with pytest.raises(AuthenticationFailed) as expired:
        identity.authenticate("alice", text, ADDRESS)
    assert expired.value.reason == "access token expired"
    identity.delete_access_token("alice", "ci", "alice")
    assert access.stores.tokens.of_owner("alice") == []
