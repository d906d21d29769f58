"""Access control's errors: signing in, the token endpoint, and users, robots and tokens.

Missing or refused credentials are registry.py's `UNAUTHORIZED` (401), a refusal of a
signed-in caller its `DENIED` (403), too many failed sign-ins its `TOOMANYREQUESTS` (429,
with `Retry-After`).
"""

from __future__ import annotations

from cargohold.errors.base import RegistryError


class ScopeInvalid(RegistryError):
    """SCOPE_INVALID: a token request's scope does not follow `type:name:actions`."""

    code = "SCOPE_INVALID"
    status = 400
    default_message = "invalid scope"


class TokenRequestInvalid(RegistryError):
    """TOKEN_REQUEST_INVALID: a token request for another service, or with a malformed
    `offline_token`, `client_id` or `account`."""

    code = "TOKEN_REQUEST_INVALID"
    status = 400
    default_message = "invalid token request"


class AccessRequestInvalid(RegistryError):
    """ACCESS_INVALID: a user, robot, project or token request that fails validation."""

    code = "ACCESS_INVALID"
    status = 400
    default_message = "invalid access request"


class AccessUnknown(RegistryError):
    """ACCESS_UNKNOWN: no such user, project, robot or token."""

    code = "ACCESS_UNKNOWN"
    status = 404
    default_message = "no such user, project, robot or token"


class AccessExists(RegistryError):
    """ACCESS_EXISTS: a user, project, robot or token of that name exists already."""

    code = "ACCESS_EXISTS"
    status = 409
    default_message = "it exists already"


class ProjectNotEmpty(RegistryError):
    """PROJECT_NOT_EMPTY: a project is deleted only when none of its repositories holds an
    image any more."""

    code = "PROJECT_NOT_EMPTY"
    status = 409
    default_message = "the project still holds images"
