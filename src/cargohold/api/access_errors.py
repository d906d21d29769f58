"""The answer to each refusal of the access services (services/access_errors.py), as a
catalogued error: no bad credential, scope or name reaches a client as a 500.

The token endpoint's GET and every other route answer with these. A 401 challenges for Basic
credentials; routes that want a Bearer challenge (the registry's) set their own.
"""

from __future__ import annotations

import math

from starlette.requests import Request
from starlette.responses import Response

from cargohold.api.errors import error_response
from cargohold.errors import (
    AccessExists,
    AccessRequestInvalid,
    AccessUnknown,
    Denied,
    RegistryError,
    ScopeInvalid,
    TooManyRequests,
    Unauthorized,
)
from cargohold.services.access_errors import (
    AccessConflict,
    AccessError,
    AccessInvalid,
    AccessNotFound,
    AuthenticationFailed,
    GrantRefused,
    LoginThrottled,
    PasswordChecksBusy,
    ScopeMalformed,
)

BASIC_REALM = "cargohold"
BASIC_CHALLENGE = {"WWW-Authenticate": f'Basic realm="{BASIC_REALM}"'}
NOT_ACCEPTED = "the credentials were not accepted"


def retry_after(seconds: float | None) -> str:
    """A `Retry-After` value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds or 1)))


def throttled(exc: LoginThrottled) -> TooManyRequests:
    wait = retry_after(exc.retry_after)
    return TooManyRequests(throttled_words(exc, wait), headers={"Retry-After": wait})


def throttled_words(exc: LoginThrottled, wait: str) -> str:
    """What a held-back attempt is told: the same words whether the account, the address or
    an unknown name is held back."""
    if isinstance(exc, PasswordChecksBusy):
        return f"too many password checks at once: try again in {wait} s"
    return f"too many failed sign-ins: try again in {wait} s"


def registry_error_of(exc: AccessError) -> RegistryError:
    if isinstance(exc, LoginThrottled):
        return throttled(exc)
    if isinstance(exc, AuthenticationFailed):
        return Unauthorized(NOT_ACCEPTED, headers=BASIC_CHALLENGE)
    if isinstance(exc, GrantRefused):
        return Unauthorized("the refresh token is not accepted", headers=BASIC_CHALLENGE)
    if isinstance(exc, ScopeMalformed):
        return ScopeInvalid(str(exc))
    if isinstance(exc, AccessInvalid):
        return AccessRequestInvalid(str(exc))
    if isinstance(exc, AccessNotFound):
        return AccessUnknown(str(exc))
    if isinstance(exc, AccessConflict):
        return AccessExists(str(exc))
    # PermissionDenied, and any refusal added later: the safe answer.
    return Denied(str(exc) or None)


async def access_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AccessError)
    return error_response(registry_error_of(exc), head=request.method == "HEAD")
