"""Who is asking: a user's password or personal access token, a robot's secret or a refresh
token checked, and the slowdown and lockout after failed logins. Managing users and their
tokens is UserService's (services/users.py).

Plain synchronous code (the HTTP layer runs it off the event loop: an argon2 check takes
tens of milliseconds on purpose). Times come from an injected clock.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from dataclasses import dataclass

from cargohold.meta.access_tokens import AccessTokenRecords
from cargohold.meta.login_failures import ACCOUNT, ADDRESS, LoginFailureRecords
from cargohold.meta.projects import ProjectRecords
from cargohold.meta.refresh_tokens import Holder, RefreshToken, RefreshTokenRecords
from cargohold.meta.robots import Robot, RobotRecords, RobotScope
from cargohold.meta.users import User, UserRecords
from cargohold.policy.login_throttle import LoginThrottle
from cargohold.policy.permissions import NOBODY, ROBOT, USER, Principal, Role
from cargohold.services.access_errors import (
    AuthenticationFailed,
    LoginThrottled,
    PasswordChecksBusy,
    PermissionDenied,
)
from cargohold.services.audit import AuditTrail
from cargohold.services.caller import REFRESH_TOKEN_METHOD, Caller
from cargohold.services.secrets_hashing import (
    ACCESS_TOKEN_PREFIX,
    Passwords,
    digest,
    digest_matches,
    is_refresh_token,
)

Clock = Callable[[], float]

# A use of a personal access token or a refresh token is written at most this often.
TOKEN_USE_RESOLUTION_SECONDS = 60.0
# No user or robot name is longer, or holds a control character (PostgreSQL text cannot even
# hold a NUL): a login under such a name is refused without a lookup.
MAX_ACCOUNT_NAME_LENGTH = 255


def _possible_account_name(name: str) -> bool:
    return len(name) <= MAX_ACCOUNT_NAME_LENGTH and name.isprintable()


def _shown_name(name: str) -> str:
    """The name as the audit trail records a login under it: printable, bounded."""
    if _possible_account_name(name):
        return name
    return "".join(c if c.isprintable() else "?" for c in name[:MAX_ACCOUNT_NAME_LENGTH])


PASSWORD = "password"
ROBOT_SECRET = "robot"
ACCESS_TOKEN = "token"


@dataclass(frozen=True)
class Identity:
    """An authenticated principal and how it proved who it is."""

    principal: Principal
    method: str  # PASSWORD, ROBOT_SECRET, ACCESS_TOKEN or REFRESH_TOKEN_METHOD


@dataclass(frozen=True)
class AccessStores:
    users: UserRecords
    projects: ProjectRecords
    robots: RobotRecords
    tokens: AccessTokenRecords
    failures: LoginFailureRecords
    refresh_tokens: RefreshTokenRecords


@functools.lru_cache(maxsize=1024)
def _robot_principal(name: str, scopes: tuple[RobotScope, ...]) -> Principal:
    """A robot's principal, the same object for the same name and scopes as just read: every
    token request of a robot asks for it (principals are immutable; nothing is remembered
    that the read did not just confirm)."""
    return Principal(ROBOT, name, scopes={s.project: frozenset(s.actions) for s in scopes})


class IdentityService:
    def __init__(
        self,
        stores: AccessStores,
        passwords: Passwords,
        account_throttle: LoginThrottle,
        address_throttle: LoginThrottle,
        robot_prefix: str,
        trail: AuditTrail,
        clock: Clock,
    ) -> None:
        self.stores = stores
        self.trail = trail
        self.passwords = passwords
        self.account_throttle = account_throttle
        self.address_throttle = address_throttle
        self.robot_prefix = robot_prefix
        self.clock = clock

    # -- authentication ---------------------------------------------------------------------

    def authenticate(self, name: str, secret: str, origin: Caller) -> Identity:
        """The identity behind Basic credentials: a user's password or personal access token,
        a robot's secret (told apart by the robot name prefix), or a refresh token of the token
        endpoint (what `docker login` keeps as its identitytoken; its name may be empty, as
        BuildKit sends it, or its holder's). Raises AuthenticationFailed; each failure slows
        down and eventually locks the client address, and a wrong password the account too.
        `origin` is the request's (still anonymous) caller: its address is counted, and every
        attempt is noted in the audit trail under the account name (`login`, ok or failed
        with the reason; never the secret)."""
        try:
            identity = self._authenticate(name, secret, origin.address)
        except AuthenticationFailed as failed:
            method = self._method_of(name, secret)
            self.trail.login(origin, _shown_name(name), method, False, failed.reason)
            raise
        self.trail.login(origin, identity.principal.name, identity.method, True)
        return identity

    def robot_by_reads(self, name: str, secret: str, origin: Caller) -> Identity | None:
        """A robot's secret checked with reads alone (the address's failed-login count, the
        robot): the robot's identity, noted as a login, when nothing needs writing; None when
        the answer is not that simple (not a robot's secret, a wrong one, a throttled
        address), for `authenticate` to decide, count and note. Cheap enough to run on the
        event loop: two indexed reads and a digest."""
        if not self.is_robot_secret(name, secret):
            return None
        now = self.clock()
        # A robot's failures count on the address alone (see _authenticate).
        _, address_state = self.stores.failures.get_both(None, origin.address or None)
        if self.address_throttle.retry_after(address_state, now) is not None:
            return None
        try:
            principal = self._robot(name, secret, now)
        except AuthenticationFailed:
            return None
        self.trail.login(origin, principal.name, ROBOT_SECRET, True)
        return Identity(principal, ROBOT_SECRET)

    def is_robot_secret(self, name: str, secret: str) -> bool:
        """Whether credentials are a robot's name and secret by their form alone (the name
        prefix, a name an account could have, not a refresh token); nothing is read."""
        return (
            name.startswith(self.robot_prefix)
            and not is_refresh_token(secret)
            and _possible_account_name(name)
        )

    def _method_of(self, name: str, secret: str) -> str:
        """How an attempt tried to authenticate (told apart as _check does)."""
        if is_refresh_token(secret):
            return REFRESH_TOKEN_METHOD
        if name.startswith(self.robot_prefix):
            return ROBOT_SECRET
        return ACCESS_TOKEN if secret.startswith(ACCESS_TOKEN_PREFIX) else PASSWORD

    def _authenticate(
        self,
        name: str,
        secret: str,
        address: str,
        check: Callable[[str, str, float], Identity] | None = None,
        guessable: bool | None = None,
    ) -> Identity:
        """`guessable`: whether the secret is a password (by default, told apart as _check
        does). Only a password's failures count on the account: robot secrets, personal
        access tokens and refresh tokens are random (256 bits), nothing to guess, and
        counting their failures on the account would let anyone who knows a robot's name (it
        sits in CI files) lock the pipeline out. Every failure counts on the address."""
        check = check or self._check
        if guessable is None:
            guessable = self._method_of(name, secret) == PASSWORD
        now = self.clock()
        failures = self.stores.failures
        possible = _possible_account_name(name)
        # A nameless refresh token names no account to slow down: only its address counts.
        counted = name if possible and name and guessable else None
        account_state, address_state = failures.get_both(counted, address or None)
        waits = [
            wait
            for wait in (
                self.account_throttle.retry_after(account_state, now),
                self.address_throttle.retry_after(address_state, now),
            )
            if wait is not None
        ]
        if waits:
            locked = self.account_throttle.locked(
                account_state, now
            ) or self.address_throttle.locked(address_state, now)
            raise LoginThrottled("locked" if locked else "throttled", max(waits))
        try:
            if not possible:
                raise AuthenticationFailed("impossible name")
            identity = check(name, secret, now)
        except PasswordChecksBusy:
            raise  # refused before anything was checked: no failure to count
        except AuthenticationFailed as failed:
            failed.retry_after = self._count_failure(counted, address, now)
            raise
        if account_state is not None and counted is not None:
            failures.clear(ACCOUNT, counted)
        return identity

    def _count_failure(self, name: str | None, address: str, now: float) -> float | None:
        """Count a failure on the account (None: a name no account can have) and on the
        address; the longest wait they now impose."""
        failures = self.stores.failures
        waits = []
        if name is not None:
            account = failures.record(
                ACCOUNT, name, lambda s: self.account_throttle.after_failure(ACCOUNT, name, s, now)
            )
            waits.append(self.account_throttle.retry_after(account, now))
        if address:
            by_address = failures.record(
                ADDRESS,
                address,
                lambda s: self.address_throttle.after_failure(ADDRESS, address, s, now),
            )
            waits.append(self.address_throttle.retry_after(by_address, now))
        known = [w for w in waits if w is not None]
        return max(known) if known else None

    def _check(self, name: str, secret: str, now: float) -> Identity:
        if is_refresh_token(secret):
            return Identity(self._refresh_token(name, secret, now), REFRESH_TOKEN_METHOD)
        if name.startswith(self.robot_prefix):
            return Identity(self._robot(name, secret, now), ROBOT_SECRET)
        if secret.startswith(ACCESS_TOKEN_PREFIX):
            return Identity(self._access_token(name, secret, now), ACCESS_TOKEN)
        return Identity(self._password(name, secret), PASSWORD)

    def _password(self, name: str, password: str) -> Principal:
        user = self.stores.users.by_name(name)
        if user is None:
            self.passwords.spend_time(password)
            raise AuthenticationFailed("unknown user")
        if not self.passwords.verify(user.password_hash, password):
            raise AuthenticationFailed("wrong password")
        if user.disabled:
            raise AuthenticationFailed("disabled")
        if self.passwords.needs_rehash(user.password_hash):
            # Hashed with older parameters: store one with today's, now that we know it (or at
            # a later sign-in, when password checks are too busy for another hash now).
            with contextlib.suppress(PasswordChecksBusy):
                rehashed = self.passwords.hash(password)
                self.stores.users.rehash_password(name, rehashed, self.clock())
        return self.principal_of(user)

    def _robot(self, name: str, secret: str, now: float) -> Principal:
        robot = self.stores.robots.by_name(name)
        if robot is None or not digest_matches(secret, robot.secret_hash):
            raise AuthenticationFailed("wrong robot secret")
        if robot.revoked:
            raise AuthenticationFailed("robot revoked")
        if robot.expires_at is not None and now >= robot.expires_at:
            raise AuthenticationFailed("robot expired")
        return self.principal_of_robot(robot)

    def _access_token(self, name: str, secret: str, now: float) -> Principal:
        token = self.stores.tokens.by_hash(digest(secret))
        # The token must be presented with its owner's name: a leaked token alone is half.
        if token is None or token.owner != name:
            raise AuthenticationFailed("unknown access token")
        if token.expires_at is not None and now >= token.expires_at:
            raise AuthenticationFailed("access token expired")
        user = self.stores.users.by_id(token.user_id)
        if user is None or user.disabled:
            raise AuthenticationFailed("disabled")
        self.stores.tokens.touch(token.id, now, TOKEN_USE_RESOLUTION_SECONDS)
        return self.principal_of(user)

    def _refresh_token(self, name: str, secret: str, now: float) -> Principal:
        stored = self.stored_refresh_token(secret)
        if stored is None or name not in ("", stored.holder.subject):
            raise AuthenticationFailed("unknown refresh token")
        return self.refresh_token_holder(stored, now)

    def stored_refresh_token(self, secret: str) -> RefreshToken | None:
        """The refresh token with this text, by its digest; None when it is none of ours."""
        return self.stores.refresh_tokens.by_hash(digest(secret))

    def refresh_token_holder(self, stored: RefreshToken, now: float) -> Principal:
        """The holder of a stored refresh token as it is now, its use noted (at most once a
        minute); AuthenticationFailed when the token has expired or its holder may no longer
        sign in."""
        if now >= stored.expires_at:
            raise AuthenticationFailed("refresh token expired")
        principal = self._holder_principal(stored.holder, now)
        self.stores.refresh_tokens.touch(stored.id, now, TOKEN_USE_RESOLUTION_SECONDS)
        return principal

    def _holder_principal(self, holder: Holder, now: float) -> Principal:
        """A refresh token's holder as it is now; AuthenticationFailed when it may no
        longer sign in (the user deleted or disabled, the robot deleted, revoked or
        expired)."""
        if holder.user_id is not None:
            user = self.stores.users.by_id(holder.user_id)
            if user is None or user.disabled:
                raise AuthenticationFailed("user deleted or disabled")
            return self.principal_of(user)
        robot = self.stores.robots.by_name(holder.subject)
        if robot is None or robot.id != holder.robot_id:
            raise AuthenticationFailed("robot deleted")
        if robot.revoked:
            raise AuthenticationFailed("robot revoked")
        if robot.expires_at is not None and now >= robot.expires_at:
            raise AuthenticationFailed("robot expired")
        return self.principal_of_robot(robot)

    def principal_named(self, name: str) -> Principal:
        """The principal a registry token's subject names, as it stands now (its roles or
        scopes today); anonymous for "" and for a user or robot that can no longer sign in."""
        if not name:
            return NOBODY
        if name.startswith(self.robot_prefix):
            robot = self.stores.robots.by_name(name)
            now = self.clock()
            if (
                robot is None
                or robot.revoked
                or (robot.expires_at is not None and now >= robot.expires_at)
            ):
                return NOBODY
            return self.principal_of_robot(robot)
        user = self.stores.users.by_name(name)
        if user is None or user.disabled:
            return NOBODY
        return self.principal_of(user)

    def principal_of(self, user: User) -> Principal:
        roles = {p: Role(r) for p, r in self.stores.projects.roles_of(user.id).items()}
        return Principal(USER, user.name, system_admin=user.system_admin, roles=roles)

    @staticmethod
    def principal_of_robot(robot: Robot) -> Principal:
        return _robot_principal(robot.name, robot.scopes)

    def forget_old_failures(self) -> int:
        """Delete the failed-login counts that no longer slow down or lock anything (their
        last failure, and any lock, older than the lockout period); how many."""
        period = max(self.account_throttle.lockout_seconds, self.address_throttle.lockout_seconds)
        return self.stores.failures.purge(self.clock() - period)

    def unlock(self, name: str) -> None:
        """Forget an account's failures (an operator's reset)."""
        self.stores.failures.clear(ACCOUNT, name)

    def check_old_password(self, name: str, password: str, origin: Caller) -> None:
        """A user's old password (to change it), checked as a password login is (slowed down
        and locked after failures, noted in the audit trail), but refused as a 403: the
        request's own credentials were fine."""

        def password_only(user: str, secret: str, now: float) -> Identity:
            return Identity(self._password(user, secret), PASSWORD)

        try:
            self._authenticate(name, password, origin.address, password_only, guessable=True)
        except LoginThrottled as throttled:
            self.trail.login(origin, name, PASSWORD, False, throttled.reason)
            raise
        except AuthenticationFailed as failed:
            self.trail.login(origin, name, PASSWORD, False, failed.reason)
            raise PermissionDenied("the old password is not correct") from None
