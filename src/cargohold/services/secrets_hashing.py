"""How secrets are kept: passwords as argon2 hashes, generated secrets as SHA-256 digests.

A password is chosen by a person and may be guessed, so it gets a slow, salted hash
(argon2id through argon2-cffi). Robot secrets, personal access tokens and refresh tokens are 256
random bits made here: no guessing can find them, so a fast digest is as safe and lets a personal
access token be looked up by its digest (docs/decisions/022).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from cargohold.config import Settings
from cargohold.services.access_errors import PasswordChecksBusy

# What a personal access token starts with: it tells a token from a password at a glance,
# and secret scanners can look for it.
ACCESS_TOKEN_PREFIX = "chpat_"
# What a refresh token (the token endpoint's offline grant) starts with, for the same reasons.
REFRESH_TOKEN_PREFIX = "chrt_"
# Password hashes made or checked at once in one process (auth_password_checks_at_once). Each
# holds argon2's memory cost (64 MiB with the defaults) while it runs: unbounded, the request
# pool's 16 threads checking passwords at once (any burst of Basic requests, wrong passwords and
# unknown names included) took a process to 1 GiB. The others wait their turn (a check is about
# 0.1 s of CPU).
PASSWORD_CHECKS_AT_ONCE: int = Settings.auth_password_checks_at_once
# Password checks that may wait for a turn (auth_password_checks_waiting). A waiting check
# holds a thread of the request pool as a running one does: unbounded, a burst of password
# requests held all 16 and every upload and manifest write queued behind it. Past this many, a
# check is refused at once (PasswordChecksBusy: 429 with Retry-After), so by default at most 8
# of the 16 threads check passwords.
PASSWORD_CHECKS_WAITING: int = Settings.auth_password_checks_waiting


def new_secret() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def new_access_token() -> str:
    return ACCESS_TOKEN_PREFIX + new_secret()


def new_refresh_token() -> str:
    return REFRESH_TOKEN_PREFIX + new_secret()


def is_refresh_token(text: str) -> bool:
    """Whether a secret is shaped as a refresh token (which one, if any, a lookup says)."""
    return text.startswith(REFRESH_TOKEN_PREFIX)


def new_password() -> str:
    """A generated password (the first admin's, a reset's): 144 random bits."""
    return secrets.token_urlsafe(18)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def digest_matches(secret: str, stored_digest: str) -> bool:
    return hmac.compare_digest(digest(secret), stored_digest)


class Passwords:
    """argon2id hashing of passwords, with a dummy check for unknown accounts."""

    def __init__(
        self,
        hasher: PasswordHasher | None = None,
        at_once: int = PASSWORD_CHECKS_AT_ONCE,
        waiting: int = PASSWORD_CHECKS_WAITING,
    ) -> None:
        # argon2-cffi's defaults follow RFC 9106's second recommendation; tests pass cheaper ones.
        self.hasher = hasher or PasswordHasher()
        self.at_once, self.waiting = at_once, waiting
        self._turns = threading.BoundedSemaphore(at_once)
        # Checks running or waiting for a turn.
        self._places = threading.BoundedSemaphore(at_once + waiting)
        # Checked against when the account does not exist, so that an unknown name takes as
        # long as a wrong password and the timing does not tell which names exist. Made on
        # first need: building the service (every process does) costs no hashing.
        self._dummy: str | None = None

    @contextmanager
    def _turn(self) -> Iterator[None]:
        """A turn to run argon2, waited for; PasswordChecksBusy when too many wait already."""
        if not self._places.acquire(blocking=False):
            raise PasswordChecksBusy()
        try:
            with self._turns:
                yield
        finally:
            self._places.release()

    def hash(self, password: str) -> str:
        """Raises PasswordChecksBusy (see _turn)."""
        with self._turn():
            return self.hasher.hash(password)

    def verify(self, stored_hash: str, password: str) -> bool:
        """Raises PasswordChecksBusy (see _turn)."""
        try:
            with self._turn():
                return self.hasher.verify(stored_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def spend_time(self, password: str) -> None:
        if self._dummy is None:
            self._dummy = self.hash(new_secret())
        self.verify(self._dummy, password)

    def needs_rehash(self, stored_hash: str) -> bool:
        try:
            return self.hasher.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return False
