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


class PermissionDenied(AccessError):
    """An authenticated principal asked for something its roles do not allow."""


class AccessInvalid(AccessError):
    """A request that cannot be carried out as given (a bad name, role, scope or expiry)."""


class AccessNotFound(AccessError):
    """No such user, project, robot or token."""


class AccessConflict(AccessError):
    """A user, project, robot or token of that name exists already."""
