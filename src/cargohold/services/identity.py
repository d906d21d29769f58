"""Who is asking: users, their passwords and personal access tokens, robot secrets, and the
slowdown and lockout after failed logins.

Plain synchronous code (the HTTP layer runs it off the event loop: an argon2 check takes
tens of milliseconds on purpose). Times come from an injected clock.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from cargohold.meta.access_tokens import AccessToken, AccessTokenRecords
from cargohold.meta.login_failures import ACCOUNT, ADDRESS, LoginFailureRecords
from cargohold.meta.projects import ProjectRecords
from cargohold.meta.refresh_tokens import Holder, RefreshToken, RefreshTokenRecords
from cargohold.meta.robots import Robot, RobotRecords
from cargohold.meta.users import User, UserRecords
from cargohold.policy.login_throttle import LoginThrottle
from cargohold.policy.permissions import NOBODY, ROBOT, USER, Principal, Role
from cargohold.services.access_errors import (
    AccessConflict,
    AccessInvalid,
    AccessNotFound,
    AuthenticationFailed,
    LoginThrottled,
    PermissionDenied,
)
from cargohold.services.audit import AuditTrail
from cargohold.services.caller import REFRESH_TOKEN_METHOD, Caller, system_caller
from cargohold.services.secrets_hashing import (
    ACCESS_TOKEN_PREFIX,
    Passwords,
    digest,
    digest_matches,
    is_refresh_token,
    new_access_token,
    new_password,
)

Clock = Callable[[], float]

ADMIN_NAME = "admin"
# GET /api/v1/users/me answers for whoever asks, so no user may be called that.
RESERVED_USER_NAME = "me"
SYSTEM_ACTOR = "system"
MIN_PASSWORD_LENGTH = 8
# A use of a personal access token or a refresh token is written at most this often.
TOKEN_USE_RESOLUTION_SECONDS = 60.0
_USER_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
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
        BuildKit sends it, or its holder's). Raises
        AuthenticationFailed; each failure slows down and eventually locks both the account
        and the client address. `origin` is the request's (still anonymous) caller: its
        address is counted, and every attempt is noted in the audit trail under the account
        name (`login`, ok or failed with the reason; never the secret)."""
        try:
            identity = self._authenticate(name, secret, origin.address)
        except AuthenticationFailed as failed:
            method = self._method_of(name, secret)
            self.trail.login(origin, _shown_name(name), method, False, failed.reason)
            raise
        self.trail.login(origin, identity.principal.name, identity.method, True)
        return identity

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
    ) -> Identity:
        check = check or self._check
        now = self.clock()
        failures = self.stores.failures
        possible = _possible_account_name(name)
        # A nameless refresh token names no account to slow down: only its address counts.
        counted = name if possible and name else None
        account_state = failures.get(ACCOUNT, counted) if counted is not None else None
        address_state = failures.get(ADDRESS, address) if address else None
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
            # Hashed with older parameters: store one with today's, now that we know it.
            self.stores.users.rehash_password(name, self.passwords.hash(password), self.clock())
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
        return Principal(
            ROBOT, robot.name, scopes={s.project: frozenset(s.actions) for s in robot.scopes}
        )

    def unlock(self, name: str) -> None:
        """Forget an account's failures (an operator's reset)."""
        self.stores.failures.clear(ACCOUNT, name)

    # -- users ------------------------------------------------------------------------------

    def ensure_admin(self, password: str | None) -> str | None:
        """On first start (no users at all), create the system admin `admin` with the given
        password (CARGOHOLD_ADMIN_PASSWORD) or a generated one. Returns the generated
        password, for the caller to print once; None when it was given or an admin exists.
        A given password shorter than the minimum is AccessInvalid."""
        if self.stores.users.count() > 0:
            return None
        if password:
            self._check_password(password)
        chosen = password or new_password()
        created = self.stores.users.create(
            ADMIN_NAME,
            self.passwords.hash(chosen),
            True,
            system_caller(SYSTEM_ACTOR).as_actor(),
            self.clock(),
        )
        # None: another node created it first; its password is the one that counts.
        if created is None or password:
            return None
        return chosen

    def create_user(self, name: str, password: str, system_admin: bool, caller: Caller) -> User:
        self._check_user_name(name)
        self._check_password(password)
        user = self.stores.users.create(
            name, self.passwords.hash(password), system_admin, caller.as_actor(), self.clock()
        )
        if user is None:
            raise AccessConflict(f"user {name!r} exists")
        return user

    def reset_password(self, name: str, password: str | None, caller: Caller) -> str:
        """Set a user's password (generated when None), and lift any lockout of the account.
        Returns the new password so the caller can show it once."""
        if password is not None:
            self._check_password(password)
        chosen = password or new_password()
        if not self.stores.users.set_password_hash(
            name, self.passwords.hash(chosen), caller.as_actor(), self.clock()
        ):
            raise AccessNotFound(f"no user {name!r}")
        self.unlock(name)
        return chosen

    def users(self) -> list[User]:
        return self.stores.users.all()

    def user(self, name: str) -> User:
        user = self.stores.users.by_name(name)
        if user is None:
            raise AccessNotFound(f"no user {name[:80]!r}")
        return user

    def update_user(
        self,
        name: str,
        caller: Caller,
        system_admin: bool | None = None,
        disabled: bool | None = None,
    ) -> User:
        """Change a user's system-admin or disabled flag (None leaves it). Nobody removes
        their own system-admin flag or disables themselves, so there is always a system admin
        left to undo a change."""
        if name == caller.principal.name and (system_admin is False or disabled is True):
            raise AccessInvalid(
                "you cannot remove your own system-admin flag or disable yourself: another"
                " system admin can"
            )
        if not self.stores.users.set_flags(
            name, caller.as_actor(), self.clock(), system_admin=system_admin, disabled=disabled
        ):
            raise AccessNotFound(f"no user {name[:80]!r}")
        return self.user(name)

    def delete_user(self, name: str, caller: Caller) -> None:
        """Remove a user with its memberships, personal access tokens and refresh tokens:
        none of them is accepted again."""
        if name == caller.principal.name:
            raise AccessInvalid("you cannot delete yourself: another system admin can")
        if not self.stores.users.delete(name, caller.as_actor(), self.clock()):
            raise AccessNotFound(f"no user {name[:80]!r}")

    def change_password(
        self, name: str, old_password: str | None, new_password: str, caller: Caller
    ) -> None:
        """Set a user's password: the user itself, who must give the old one (checked, and
        counted, as a login), or a system admin for another user. The user's refresh tokens
        end."""
        self._check_password(new_password)
        principal = caller.principal
        if name != principal.name or principal.kind != USER:
            if not principal.system_admin:
                raise PermissionDenied("only a system admin sets another user's password")
        elif old_password is None:
            raise AccessInvalid("changing your own password needs the old one (oldPassword)")
        if old_password is not None and name == principal.name:
            self._check_old_password(name, old_password, caller)
        if not self.stores.users.set_password_hash(
            name, self.passwords.hash(new_password), caller.as_actor(), self.clock()
        ):
            raise AccessNotFound(f"no user {name[:80]!r}")

    def _check_old_password(self, name: str, password: str, origin: Caller) -> None:
        """The old password, checked as a password login is (slowed down and locked after
        failures, noted in the audit trail), but refused as a 403: the request's own
        credentials were fine."""

        def password_only(user: str, secret: str, now: float) -> Identity:
            return Identity(self._password(user, secret), PASSWORD)

        try:
            self._authenticate(name, password, origin.address, password_only)
        except LoginThrottled as throttled:
            self.trail.login(origin, name, PASSWORD, False, throttled.reason)
            raise
        except AuthenticationFailed as failed:
            self.trail.login(origin, name, PASSWORD, False, failed.reason)
            raise PermissionDenied("the old password is not correct") from None

    def _check_user_name(self, name: str) -> None:
        if name.startswith(self.robot_prefix) or not _USER_NAME.fullmatch(name):
            raise AccessInvalid(
                f"invalid user name {name[:80]!r}: up to 64 of a-z 0-9 . _ -, starting with a"
                " letter or digit"
            )
        if name == RESERVED_USER_NAME:
            raise AccessInvalid(f"{name!r} is reserved: /api/v1/users/me is whoever asks")

    @staticmethod
    def _check_password(password: str) -> None:
        if len(password) < MIN_PASSWORD_LENGTH:
            raise AccessInvalid(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")

    # -- personal access tokens -------------------------------------------------------------

    def create_access_token(
        self, owner: str, name: str, expires_in_days: int | None, caller: Caller
    ) -> tuple[AccessToken, str]:
        """A new token for the owner, and its text, which is shown this once and never
        stored. None: it does not expire."""
        if not name or len(name) > 100:
            raise AccessInvalid("a token name needs 1 to 100 characters")
        if expires_in_days is not None and expires_in_days < 1:
            raise AccessInvalid("expires_in_days must be 1 or more (or none: never)")
        now = self.clock()
        text = new_access_token()
        expires_at = None if expires_in_days is None else now + expires_in_days * 86400.0
        token = self.stores.tokens.create(
            owner, name, digest(text), expires_at, caller.as_actor(), now
        )
        if token is None:
            if self.stores.users.by_name(owner) is None:
                raise AccessNotFound(f"no user {owner!r}")
            raise AccessConflict(f"{owner!r} has a token named {name!r}")
        return token, text

    def access_tokens(self, owner: str) -> list[AccessToken]:
        """The owner's personal access tokens (their digests stay in the store)."""
        tokens = self.stores.tokens.of_owner(owner)
        if not tokens:
            self.user(owner)
        return tokens

    def delete_access_token(self, owner: str, name: str, caller: Caller) -> None:
        if not self.stores.tokens.delete(owner, name, caller.as_actor(), self.clock()):
            raise AccessNotFound(f"{owner!r} has no token named {name!r}")
