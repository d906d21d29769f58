"""Users and their personal access tokens: the first admin, creation, flags, passwords,
deletion (the admin API's /api/v1/users and `cargohold admin reset-password`).

Plain synchronous code, run off the event loop (a password is hashed with argon2). Checking
who a caller is, and counting failed logins, is IdentityService's (services/identity.py).
"""

from __future__ import annotations

import re

from cargohold.meta.access_tokens import AccessToken
from cargohold.meta.users import User
from cargohold.policy.permissions import USER
from cargohold.services.access_errors import (
    AccessConflict,
    AccessInvalid,
    AccessNotFound,
    PermissionDenied,
)
from cargohold.services.caller import Caller, system_caller
from cargohold.services.identity import AccessStores, Clock, IdentityService
from cargohold.services.secrets_hashing import Passwords, digest, new_access_token, new_password

ADMIN_NAME = "admin"
# GET /api/v1/users/me answers for whoever asks, so no user may be called that.
RESERVED_USER_NAME = "me"
SYSTEM_ACTOR = "system"
MIN_PASSWORD_LENGTH = 8
_USER_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


class UserService:
    """Over the IdentityService that checks these users' credentials: its stores, password
    hasher, robot name prefix and clock are the ones used here."""

    def __init__(self, identity: IdentityService) -> None:
        self.identity = identity

    @property
    def stores(self) -> AccessStores:
        return self.identity.stores

    @property
    def passwords(self) -> Passwords:
        return self.identity.passwords

    @property
    def robot_prefix(self) -> str:
        return self.identity.robot_prefix

    @property
    def clock(self) -> Clock:
        return self.identity.clock

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
        self.identity.unlock(name)
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
            self.identity.check_old_password(name, old_password, caller)
        if not self.stores.users.set_password_hash(
            name, self.passwords.hash(new_password), caller.as_actor(), self.clock()
        ):
            raise AccessNotFound(f"no user {name[:80]!r}")

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
