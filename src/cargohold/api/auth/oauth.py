"""POST /auth/token (distribution's docs/content/spec/auth/oauth.md, RFC 6749) and
POST /auth/revoke (RFC 7009).

A token request is an `application/x-www-form-urlencoded` form: `grant_type` (`password` with
`username` and `password`, or `refresh_token` with `refresh_token`), `service` and
`client_id` (both required), `access_type` (`offline`: a refresh token with a password grant;
a refresh grant answers with the refresh token it was given) and `scope` (one field, scopes
separated by spaces). Errors are OAuth2's `{"error", "error_description"}`: 400 as the RFC
says, and 429 with `Retry-After` after too many failed sign-ins.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from cargohold.api.access_errors import retry_after, throttled_words
from cargohold.api.auth.params import NO_STORE, client_id_problem, service_problem
from cargohold.api.bodies import read_body
from cargohold.api.boundary import in_pool
from cargohold.api.callers import caller_of
from cargohold.api.context import context
from cargohold.api.encoding import json_response
from cargohold.api.models.tokens import OAuthErrorResponse, OAuthTokenResponse
from cargohold.services.access_errors import (
    AuthenticationFailed,
    GrantRefused,
    LoginThrottled,
    ScopeMalformed,
)
from cargohold.services.token_grants import Grant

FORM_TYPE = "application/x-www-form-urlencoded"
# A form holds a few names, secrets and scopes.
MAX_FORM_BYTES = 64 * 1024
MAX_FORM_FIELDS = 32
OFFLINE, ONLINE = "offline", "online"


class OAuthError(Exception):
    """An OAuth2 error answer (RFC 6749 section 5.2). The description never repeats a
    submitted secret."""

    def __init__(
        self,
        error: str,
        description: str,
        status: int = 400,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status
        self.headers = headers or {}

    def response(self) -> Response:
        return json_response(
            OAuthErrorResponse(error=self.error, error_description=self.description),
            status_code=self.status,
            headers={**NO_STORE, **self.headers},
        )


def invalid_request(description: str) -> OAuthError:
    return OAuthError("invalid_request", description)


async def _form(request: Request) -> dict[str, str]:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != FORM_TYPE:
        raise invalid_request(f"the body must be {FORM_TYPE}")
    body = await read_body(request, MAX_FORM_BYTES)
    try:
        pairs = parse_qsl(
            body.decode("ascii"),
            keep_blank_values=True,
            strict_parsing=True,
            errors="strict",
            max_num_fields=MAX_FORM_FIELDS,
        )
    except ValueError:  # UnicodeDecodeError is one; the parser's messages may quote the body
        raise invalid_request(
            "the body is not a form of UTF-8 name=value pairs joined by &"
        ) from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            # RFC 6749 section 3.2: parameters must not be included more than once.
            raise invalid_request(f"{name[:40]} is given more than once")
        form[name] = value
    return form


def _required(form: dict[str, str], name: str) -> str:
    value = form.get(name, "")
    if not value:
        raise invalid_request(f"{name} is required")
    return value


async def _grant(request: Request, form: dict[str, str]) -> Grant:
    grants = context(request).access.grants
    grant_type = _required(form, "grant_type")
    if problem := service_problem(_required(form, "service"), grants.service):
        raise invalid_request(problem)
    client_id = _required(form, "client_id")
    if problem := client_id_problem(client_id):
        raise invalid_request(problem)
    access_type = form.get("access_type") or ONLINE
    if access_type not in (ONLINE, OFFLINE):
        raise invalid_request("access_type must be online or offline")
    scopes = [form.get("scope", "")]
    if grant_type == "password":
        return await in_pool(
            grants.for_credentials,
            _required(form, "username"),
            _required(form, "password"),
            caller_of(request),
            scopes,
            access_type == OFFLINE,
            client_id,
        )
    if grant_type == "refresh_token":
        return await in_pool(
            grants.for_refresh_token, _required(form, "refresh_token"), scopes, caller_of(request)
        )
    raise OAuthError("unsupported_grant_type", "grant_type must be password or refresh_token")


async def post_token(request: Request) -> Response:
    try:
        grant = await _grant(request, await _form(request))
    except OAuthError as exc:
        return exc.response()
    except ScopeMalformed as exc:
        return OAuthError("invalid_scope", str(exc)).response()
    except LoginThrottled as exc:
        wait = retry_after(exc.retry_after)
        return OAuthError(
            "invalid_grant",
            throttled_words(exc, wait),
            status=429,
            headers={"Retry-After": wait},
        ).response()
    except AuthenticationFailed:
        return OAuthError("invalid_grant", "the credentials were not accepted").response()
    except GrantRefused:
        return OAuthError("invalid_grant", "the refresh token is not accepted").response()
    return json_response(OAuthTokenResponse.of(grant), headers=NO_STORE)


async def revoke_token(request: Request) -> Response:
    """Revoke a refresh token. A token that is none of ours is not an error (RFC 7009
    section 2.2); a registry token is `unsupported_token_type`: it cannot be revoked, and
    ends on its own within `auth_token_expiry_seconds`."""
    grants = context(request).access.grants
    try:
        token = _required(await _form(request), "token")
    except OAuthError as exc:
        return exc.response()
    revoked = await in_pool(grants.revoke, token, caller_of(request))
    if not revoked and await in_pool(grants.is_registry_token, token):
        return OAuthError(
            "unsupported_token_type",
            "registry tokens cannot be revoked; they expire on their own",
        ).response()
    return Response(status_code=200, headers=NO_STORE)
