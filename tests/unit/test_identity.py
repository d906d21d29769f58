"""Authentication, slowdown and lockout, the first admin, robots and personal access tokens,
over a real metadata store (SQLite and PostgreSQL) with an injected clock: no sleeps."""

from __future__ import annotations

from pathlib import Path

import pytest
from argon2 import PasswordHasher

from cargohold.config import load_settings
from cargohold.meta.audit import AuditFilter
from cargohold.meta.robots import RobotScope
from cargohold.meta.store import MetadataStore
from cargohold.policy.permissions import ROBOT, USER, Principal, Role, repository_actions
from cargohold.services.access import AccessControl
from cargohold.services.access_errors import (
    AccessConflict,
    AccessInvalid,
    AuthenticationFailed,
    LoginThrottled,
    PasswordChecksBusy,
    PermissionDenied,
)
from cargohold.services.audit import AuditTrail
from cargohold.services.caller import Caller, anonymous_caller
from cargohold.services.identity import ACCESS_TOKEN, PASSWORD, ROBOT_SECRET
from cargohold.services.secrets_hashing import Passwords
from cargohold.wiring_access import build_access_control

NOW = 1_800_000_000.0
ADDRESS = "192.0.2.7"
# The (still anonymous) caller of a login request.
FROM = anonymous_caller(ADDRESS, "docker/20.10.24")
ROOT = Principal(USER, "admin", system_admin=True)
ADMIN = Caller(ROOT, PASSWORD, "192.0.2.1", "cargohold-tests")


ALICE = Caller(Principal(USER, "alice"), PASSWORD, "192.0.2.8", "cargohold-tests")


def as_caller(principal: Principal) -> Caller:
    return Caller(principal, PASSWORD, "192.0.2.1", "cargohold-tests")


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
    control = build_access_control(settings, meta.db, AuditTrail(meta.audit_log, 0, clock), clock)
    # Cheap argon2 parameters: the tests hash many passwords.
    control.identity.passwords = Passwords(PasswordHasher(time_cost=1, memory_cost=1024))
    return control


def all_stored_text(meta: MetadataStore) -> str:
    """Every row of the access tables and the audit log, as one string."""
    tables = ["users", "robots", "robot_scopes", "access_tokens", "audit_events"]
    return "\n".join(repr(meta.db.rows(f"SELECT * FROM {table}")) for table in tables)


def test_first_start_creates_an_admin_once(access: AccessControl) -> None:
    generated = access.users.ensure_admin(None)
    assert generated is not None and len(generated) >= 16
    assert access.users.ensure_admin(None) is None  # a second start creates nothing
    identity = access.identity.authenticate("admin", generated, FROM)
    assert identity.method == PASSWORD and identity.principal.system_admin


def test_admin_password_from_the_environment_is_not_returned(access: AccessControl) -> None:
    assert access.users.ensure_admin("from-the-env-123") is None
    assert access.identity.authenticate("admin", "from-the-env-123", FROM).principal.name == (
        "admin"
    )


def test_passwords_authenticate_and_carry_roles(access: AccessControl, meta: MetadataStore) -> None:
    identity = access.identity
    access.users.create_user("alice", "correct horse", False, ADMIN)
    access.stores.projects.create("team", False, ADMIN.as_actor(), NOW)
    access.stores.projects.set_member("team", "alice", Role.DEVELOPER, ADMIN.as_actor(), NOW)
    principal = identity.authenticate("alice", "correct horse", FROM).principal
    assert principal.roles == {"team": Role.DEVELOPER}
    assert repository_actions(principal, "team/app", False) == {"pull", "push"}
    with pytest.raises(AccessConflict):
        access.users.create_user("alice", "another one", False, ADMIN)
    with pytest.raises(AccessInvalid):
        access.users.create_user("robot$x", "long enough", False, ADMIN)
    with pytest.raises(AccessInvalid):
        access.users.create_user("bob", "short", False, ADMIN)
    assert "correct horse" not in all_stored_text(meta)


def test_failures_slow_down_then_lock_out_and_the_lock_expires(
    access: AccessControl, clock: Clock
) -> None:
    identity = access.identity
    access.users.create_user("alice", "correct horse", False, ADMIN)
    with pytest.raises(AuthenticationFailed) as first:
        identity.authenticate("alice", "wrong", FROM)
    assert first.value.retry_after == 1.0
    # Within the slowdown even the right password is not checked.
    with pytest.raises(AuthenticationFailed) as throttled:
        identity.authenticate("alice", "correct horse", FROM)
    assert throttled.value.reason == "throttled"
    clock.now += 1
    with pytest.raises(AuthenticationFailed) as second:
        identity.authenticate("alice", "wrong", FROM)
    assert second.value.retry_after == 2.0
    clock.now += 2
    with pytest.raises(AuthenticationFailed) as third:
        identity.authenticate("alice", "wrong", FROM)
    assert third.value.retry_after == 600.0  # the threshold (3): locked
    clock.now += 599
    with pytest.raises(AuthenticationFailed) as locked:
        identity.authenticate("alice", "correct horse", anonymous_caller("198.51.100.1"))
    assert locked.value.reason == "locked" and locked.value.retry_after == 1.0
    clock.now += 1
    assert identity.authenticate(
        "alice", "correct horse", anonymous_caller("198.51.100.1")
    ).principal.name == ("alice")
    # Success forgot the account's failures: one more mistake costs a second again.
    with pytest.raises(AuthenticationFailed) as fresh:
        identity.authenticate("alice", "wrong", anonymous_caller("198.51.100.1"))
    assert fresh.value.retry_after == 1.0


def test_only_wrong_passwords_count_on_the_account(access: AccessControl, clock: Clock) -> None:
    """Robot secrets and personal access tokens are random: there is nothing to guess, and a
    robot's name sits in CI files. Their failures count on the address alone, so nobody can
    lock a pipeline out by sending wrong secrets under its name; a user whose password is
    being guessed (locked) still signs in with a token."""
    identity = access.identity
    access.stores.projects.create("team", False, ADMIN.as_actor(), NOW)
    access.users.create_user("alice", "correct horse", False, ADMIN)
    _, pat = access.users.create_access_token("alice", "ci", None, ADMIN)
    _, secret = access.robots.create(ADMIN, "ci", [RobotScope("team", ("pull",))])
    for n in range(9):  # three times the threshold, each from an address of its own
        for block, name, wrong in (
            (100, "robot$ci", "not-the-secret"),
            (101, "alice", pat[:-4] + "xxxx"),
        ):
            with pytest.raises(AuthenticationFailed) as failed:
                identity.authenticate(name, wrong, anonymous_caller(f"198.51.{block}.{n}"))
            assert not isinstance(failed.value, LoginThrottled)
    for n in range(3):  # and the password is guessed: alice's account is locked
        with pytest.raises(AuthenticationFailed):
            identity.authenticate("alice", "wrong", anonymous_caller(f"203.0.113.{n}"))
        clock.now += 10
    with pytest.raises(LoginThrottled):
        identity.authenticate("alice", "correct horse", anonymous_caller("203.0.113.99"))
    here = anonymous_caller("203.0.113.100")
    assert identity.authenticate("robot$ci", secret, here).method == ROBOT_SECRET
    assert identity.authenticate("alice", pat, here).method == ACCESS_TOKEN
    failures = access.stores.failures
    robot_account, first_address = failures.get_both("robot$ci", "198.51.100.0")
    assert robot_account is None and failures.get_both("alice", None)[0] is not None
    assert first_address is not None and first_address.failures == 1
    # An address that keeps sending wrong robot secrets is slowed down all the same.
    with pytest.raises(AuthenticationFailed):
        identity.authenticate("robot$ci", "not-the-secret", here)
    with pytest.raises(LoginThrottled):
        identity.authenticate("robot$ci", secret, here)


def test_a_login_refused_because_password_checks_are_busy_counts_as_no_failure(
    access: AccessControl, meta: MetadataStore
) -> None:
    """Nothing was checked: neither the account nor the address is slowed down by it (or the
    burst that made the checks busy would lock its victims out), and the refusal is noted
    in the audit log with its reason, under the name that was tried."""
    identity = access.identity
    access.users.create_user("alice", "correct horse", False, ADMIN)
    busy = Passwords(PasswordHasher(time_cost=1, memory_cost=1024), at_once=1, waiting=0)
    identity.passwords = busy
    with busy._turn():  # another request's check is running: the only place is taken
        for name in ("alice", "nobody"):
            for _ in range(10):  # past both lockout thresholds, had they counted
                with pytest.raises(PasswordChecksBusy):
                    identity.authenticate(name, "correct horse", FROM)
    assert access.stores.failures.get_both("alice", ADDRESS) == (None, None)
    assert identity.authenticate("alice", "correct horse", FROM).principal.name == "alice"
    identity.trail.flush()
    refused = identity.trail.page(AuditFilter(action="login", result="failed"), None, 10).events
    assert sorted((e.actor, e.detail["reason"], e.detail["count"]) for e in refused) == [
        ("alice", "password checks busy", 10),
        ("nobody", "password checks busy", 10),
    ]


def test_how_many_password_checks_run_and_wait_comes_from_the_settings(
    meta: MetadataStore, tmp_path: Path
) -> None:
    env = {"CARGOHOLD_DATA_DIR": str(tmp_path)}
    shipped = build_access_control(load_settings(env=env), meta.db).identity.passwords
    assert (shipped.at_once, shipped.waiting) == (2, 6)
    env |= {"CARGOHOLD_AUTH_PASSWORD_CHECKS_AT_ONCE": "1"}
    env |= {"CARGOHOLD_AUTH_PASSWORD_CHECKS_WAITING": "0"}
    control = build_access_control(load_settings(env=env), meta.db)
    passwords = control.identity.passwords
    assert (passwords.at_once, passwords.waiting) == (1, 0)
    # One check running, none may wait.
    with passwords._turn(), pytest.raises(PasswordChecksBusy):
        control.identity.authenticate("admin", "any password", FROM)


def test_an_address_trying_many_accounts_is_locked(access: AccessControl, clock: Clock) -> None:
    identity = access.identity
    access.users.create_user("victim", "correct horse", False, ADMIN)
    for n in range(5):
        with pytest.raises(AuthenticationFailed):
            identity.authenticate(f"guess{n}", "password", FROM)
        clock.now += 10
    with pytest.raises(AuthenticationFailed) as locked:
        identity.authenticate("victim", "correct horse", FROM)
    assert locked.value.reason == "locked"
    # The account itself is not locked: from elsewhere it signs in.
    assert identity.authenticate(
        "victim", "correct horse", anonymous_caller("203.0.113.9")
    ).principal.name == ("victim")


def test_failures_are_forgotten_after_the_lockout_period(
    access: AccessControl, clock: Clock
) -> None:
    identity = access.identity
    access.users.create_user("alice", "correct horse", False, ADMIN)
    for _ in range(2):
        with pytest.raises(AuthenticationFailed):
            identity.authenticate("alice", "wrong", FROM)
        clock.now += 5
    clock.now += 600
    with pytest.raises(AuthenticationFailed) as again:
        identity.authenticate("alice", "wrong", FROM)
    assert again.value.retry_after == 1.0  # counted as the first, not the third


def test_counts_that_slow_down_or_lock_nothing_are_purged(
    access: AccessControl, meta: MetadataStore, clock: Clock
) -> None:
    """Guesses under made-up names from ever new addresses leave one count each; once a
    count slows down or locks nothing, the servers' housekeeping deletes it, so the table
    does not grow without end. A lock is kept until it has ended."""
    identity = access.identity
    access.users.create_user("alice", "correct horse", False, ADMIN)
    for n in range(20):
        with pytest.raises(AuthenticationFailed):
            identity.authenticate(f"made-up-{n}", "guess", anonymous_caller(f"198.51.100.{n}"))
    for _ in range(3):  # alice's account is locked for 600 s
        with pytest.raises(AuthenticationFailed):
            identity.authenticate("alice", "wrong", anonymous_caller("203.0.113.5"))
        clock.now += 10

    def counted() -> int:
        return int(meta.db.one("SELECT COUNT(*) FROM login_failures")[0])  # type: ignore[index]

    assert counted() == 42  # each name and each address (alice's address once)
    assert identity.forget_old_failures() == 0  # every count still slows something down
    clock.now += 575  # the made-up names' counts are 605 s old, alice's lock ends in 15 s
    assert identity.forget_old_failures() == 40
    assert counted() == 2  # alice's lock, and her address's count (585 s old)
    with pytest.raises(LoginThrottled):
        identity.authenticate("alice", "correct horse", anonymous_caller("203.0.113.9"))
    clock.now += 1200
    assert identity.forget_old_failures() == 2
    assert counted() == 0
    identity.authenticate("alice", "correct horse", anonymous_caller("203.0.113.9"))


def test_reset_password_lifts_a_lockout(access: AccessControl, clock: Clock) -> None:
    identity = access.identity
    access.users.create_user("alice", "correct horse", False, ADMIN)
    for _ in range(3):
        with pytest.raises(AuthenticationFailed):
            identity.authenticate("alice", "wrong", FROM)
        clock.now += 10
    new = access.users.reset_password("alice", None, ADMIN)
    assert (
        identity.authenticate("alice", new, anonymous_caller("203.0.113.9")).principal.name
        == "alice"
    )


def test_disabled_users_cannot_sign_in(access: AccessControl) -> None:
    access.users.create_user("mallory", "correct horse", False, ADMIN)
    access.stores.users.set_flags("mallory", ADMIN.as_actor(), NOW, disabled=True)
    with pytest.raises(AuthenticationFailed) as failed:
        access.identity.authenticate("mallory", "correct horse", FROM)
    assert failed.value.reason == "disabled"


# -- robots --------------------------------------------------------------------------------


def test_robot_secret_is_shown_once_and_stored_hashed(
    access: AccessControl, meta: MetadataStore, clock: Clock
) -> None:
    access.stores.projects.create("team", False, ADMIN.as_actor(), NOW)
    robot, secret = access.robots.create(ADMIN, "ci", [RobotScope("team", ("pull", "push"))])
    assert robot.name == "robot$ci"
    assert robot.expires_at == NOW + 30 * 86400  # the default: 30 days
    assert secret not in all_stored_text(meta) and secret not in repr(robot)
    identity = access.identity.authenticate("robot$ci", secret, FROM)
    assert identity.method == ROBOT_SECRET and identity.principal.kind == ROBOT
    assert repository_actions(identity.principal, "team/app", False) == {"pull", "push"}
    assert repository_actions(identity.principal, "other/app", False) == frozenset()


def test_robot_expires(access: AccessControl, clock: Clock) -> None:
    access.stores.projects.create("team", False, ADMIN.as_actor(), NOW)
    _, secret = access.robots.create(ADMIN, "ci", [RobotScope("team", ("pull",))], 1)
    access.identity.authenticate("robot$ci", secret, FROM)
    clock.now = NOW + 86400
    with pytest.raises(AuthenticationFailed) as failed:
        access.identity.authenticate("robot$ci", secret, FROM)
    assert failed.value.reason == "robot expired"


def test_robot_refresh_replaces_the_secret_and_revoke_is_final(
    access: AccessControl, clock: Clock
) -> None:
    access.stores.projects.create("team", False, ADMIN.as_actor(), NOW)
    _, old = access.robots.create(ADMIN, "ci", [RobotScope("team", ("pull",))])
    _, new = access.robots.refresh(ADMIN, "ci", 7)
    clock.now += 2  # past the slowdown of the failure below
    with pytest.raises(AuthenticationFailed):
        access.identity.authenticate("robot$ci", old, FROM)
    clock.now += 10
    access.identity.authenticate("robot$ci", new, FROM)
    access.robots.revoke(ADMIN, "robot$ci")
    with pytest.raises(AuthenticationFailed) as failed:
        access.identity.authenticate("robot$ci", new, FROM)
    assert failed.value.reason == "robot revoked"
    with pytest.raises(AccessInvalid):
        access.robots.refresh(ADMIN, "ci")


def test_never_expiring_robots_only_from_a_system_admin(access: AccessControl) -> None:
    access.stores.projects.create("team", False, ADMIN.as_actor(), NOW)
    project_admin = Principal(USER, "pa", roles={"team": Role.PROJECT_ADMIN})
    scope = [RobotScope("team", ("pull", "push"))]
    with pytest.raises(PermissionDenied):
        access.robots.create(as_caller(project_admin), "forever", scope, "never")
    robot, _ = access.robots.create(ADMIN, "forever", scope, "never")
    assert robot.expires_at is None
    created, _ = access.robots.create(as_caller(project_admin), "monthly", scope)
    assert created.created_by == "pa"


def test_robots_get_no_more_than_their_creator_has(access: AccessControl) -> None:
    access.stores.projects.create("team", False, ADMIN.as_actor(), NOW)
    access.stores.projects.create("other", False, ADMIN.as_actor(), NOW)
    developer = Principal(USER, "dev", roles={"team": Role.DEVELOPER})
    with pytest.raises(PermissionDenied):
        access.robots.create(as_caller(developer), "a", [RobotScope("team", ("delete",))])
    with pytest.raises(PermissionDenied):
        access.robots.create(as_caller(developer), "b", [RobotScope("other", ("pull",))])
    with pytest.raises(PermissionDenied):
        access.robots.create(as_caller(developer), "c", [RobotScope("*", ("pull",))])
    with pytest.raises(AccessInvalid):
        access.robots.create(ADMIN, "d", [RobotScope("missing", ("pull",))])
    with pytest.raises(AccessInvalid):
        access.robots.create(ADMIN, "e", [RobotScope("team", ("fly",))])
    # Making robots is a project admin's (policies), even with actions the developer has.
    with pytest.raises(PermissionDenied):
        access.robots.create(as_caller(developer), "f", [RobotScope("team", ("push",))])
    project_admin = Principal(USER, "pa", roles={"team": Role.PROJECT_ADMIN})
    robot, _ = access.robots.create(as_caller(project_admin), "g", [RobotScope("team", ("push",))])
    assert access.robots.list(project_admin) == [robot]
    assert access.robots.list(developer) == []
    assert access.robots.list(Principal(USER, "stranger")) == []
    # Each refused grant is noted as a denied robot.create by whoever asked.
    access.identity.trail.flush()
    denied = access.identity.trail.page(AuditFilter(result="denied"), None, 10).events
    assert sorted((e.actor, e.action, e.target) for e in denied) == [
        ("dev", "robot.create", "robot$a"),
        ("dev", "robot.create", "robot$b"),
        ("dev", "robot.create", "robot$c"),
        ("dev", "robot.create", "robot$f"),
    ]


# -- personal access tokens ----------------------------------------------------------------


def test_personal_access_tokens_stand_in_for_the_password(
    access: AccessControl, meta: MetadataStore, clock: Clock
) -> None:
    identity = access.identity
    access.users.create_user("alice", "correct horse", True, ADMIN)
    token, text = access.users.create_access_token("alice", "ci", 10, ALICE)
    assert text.startswith("chpat_") and text not in all_stored_text(meta)
    signed_in = identity.authenticate("alice", text, FROM)
    assert signed_in.method == ACCESS_TOKEN and signed_in.principal.system_admin
    assert access.stores.tokens.by_hash(token.token_hash).last_used_at == NOW  # type: ignore[union-attr]
    # Presented under another name, it is not accepted.
    access.users.create_user("bob", "correct horse", False, ADMIN)
    with pytest.raises(AuthenticationFailed):
        identity.authenticate("bob", text, FROM)
    clock.now = NOW + 10 * 86400
    with pytest.raises(AuthenticationFailed) as expired:
        identity.authenticate("alice", text, FROM)
    assert expired.value.reason == "access token expired"
    access.users.delete_access_token("alice", "ci", ALICE)
    assert access.stores.tokens.of_owner("alice") == []


# -- the audit trail -----------------------------------------------------------------------


def test_logins_are_noted_under_the_account_without_the_secret(
    access: AccessControl, meta: MetadataStore, clock: Clock
) -> None:
    identity = access.identity
    access.users.create_user("alice", "correct horse", False, ADMIN)
    identity.authenticate("alice", "correct horse", FROM)
    with pytest.raises(AuthenticationFailed):
        identity.authenticate("alice", "battery staple", FROM)
    clock.now += 10  # past the address's slowdown
    with pytest.raises(AuthenticationFailed):
        identity.authenticate("robot$nobody", "robot secret text", FROM)
    identity.trail.flush()
    logins = identity.trail.page(AuditFilter(action="login"), None, 10).events
    assert sorted((e.actor, e.method, e.result, e.detail.get("reason")) for e in logins) == [
        ("alice", "password", "failed", "wrong password"),
        ("alice", "password", "ok", None),
        ("robot$nobody", "robot", "failed", "wrong robot secret"),
    ]
    assert {(e.address, e.user_agent) for e in logins} == {(ADDRESS, "docker/20.10.24")}
    created = identity.trail.page(AuditFilter(action="user.create"), None, 10).events
    assert [(e.actor, e.target, e.address) for e in created] == [("admin", "alice", "192.0.2.1")]
    text = all_stored_text(meta)
    for secret in ("correct horse", "battery staple", "robot secret text"):
        assert secret not in text


def test_a_name_no_account_can_have_is_refused_without_a_lookup(
    access: AccessControl, clock: Clock
) -> None:
    """A NUL (PostgreSQL text cannot hold one), a control character or a name past 255
    characters: refused, counted against the address only, noted under a printable name."""
    identity = access.identity
    for name in ("a\x00b", "robot$ci\x00", "alice\n", "x" * 300):
        with pytest.raises(AuthenticationFailed) as refused:
            identity.authenticate(name, "password", FROM)
        assert refused.value.reason == "impossible name"
        clock.now += 10  # past the address's slowdown
    identity.trail.flush()
    logins = identity.trail.page(AuditFilter(action="login"), None, 10).events
    assert sorted(e.actor for e in logins) == sorted(["a?b", "robot$ci?", "alice?", "x" * 255])
    # The fifth failure from the address locks it, whatever the names.
    with pytest.raises(AuthenticationFailed):
        identity.authenticate("nobody", "password", FROM)
    access.users.create_user("alice", "correct horse", False, ADMIN)
    with pytest.raises(AuthenticationFailed) as locked:
        identity.authenticate("alice", "correct horse", FROM)
    assert locked.value.reason == "locked"
