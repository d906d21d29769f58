"""What the access services refuse with; the HTTP layer maps each to its answer.

Messages never carry a password, secret or token: they are shown to clients and logged.
"""

from __future__ import annotations


class AccessError(Exception):
    """Base of the access services' refusals."""


class AuthenticationFailed(AccessError):
    """Wrong, unknown, expired, revoked or disabled credentials, or a throttled attempt.

    The client is told only that the credentials were not accepted (and, when throttled, when
    to try again); `reason` is for the audit log and is never shown to it.
    """

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        self.reason = reason
        self.retry_after = retry_after
        super().__init__("authentication failed")


class LoginThrottled(AuthenticationFailed):
    """An attempt refused unchecked: the account or the client address failed too often
    lately (slowed down) or is locked. `retry_after` says when to try again. The same for an
    account that does not exist, so the answer does not tell whether it does."""


class PasswordChecksBusy(LoginThrottled):
    """A password check refused before it started: the process already has as many password
    checks running and waiting for their turn as it allows (services/secrets_hashing.py).
    Nothing was checked, so nothing counts as a failed login; the client tries again after
    `retry_after`. The same for every account, known or not."""

    def __init__(self) -> None:
        super().__init__("password checks busy", retry_after=1.0)


class GrantRefused(AccessError):
    """A refresh token that is unknown, expired or revoked, or whose holder may no longer
    sign in (disabled, deleted, revoked, expired, or given a new password or secret). The
    reason is for the log; the client is told only that the grant is not accepted."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__("the refresh token is not accepted")


class PermissionDenied(AccessError):
    """An authenticated principal asked for something its roles do not allow."""


class AccessInvalid(AccessError):
    """A request that cannot be carried out as given (a bad name, role, scope or expiry)."""


class ScopeMalformed(AccessInvalid):
    """A requested scope that does not follow the token spec's grammar."""


class AccessNotFound(AccessError):
    """No such user, project, robot or token."""


class AccessConflict(AccessError):
    """A user, project, robot or token of that name exists already."""
