"""GET /auth/token: the Docker token spec (distribution's docs/content/spec/auth/token.md).

Query: `service` (ours, or absent), `scope` (repeated; each may hold several separated by
spaces), `account` (must match the Basic name when both are given), `offline_token=true`
(a refresh token too, for an authenticated caller) and `client_id`. Credentials: Basic (a
user's password or personal access token, or a robot's secret) or none, which is anonymous:
pull on public projects, and the catalog. Errors are the registry's JSON error body.
"""

from __future__ import annotations

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response

from cargohold.api.access_errors import BASIC_CHALLENGE
from cargohold.api.auth.params import NO_STORE, client_id_problem, service_problem
from cargohold.api.boundary import fast_read, in_pool
from cargohold.api.callers import caller_of
from cargohold.api.context import context
from cargohold.api.credentials import (
    BasicCredentials,
    CredentialsMalformed,
    parse_authorization,
)
from cargohold.api.encoding import json_response
from cargohold.api.models.tokens import TokenResponse
from cargohold.errors import TokenRequestInvalid, Unauthorized


def _single(query: QueryParams, name: str) -> str | None:
    values = query.getlist(name)
    if len(values) > 1:
        raise TokenRequestInvalid(f"{name} may be given once", detail={"parameter": name})
    return values[0] if values else None


def _offline(query: QueryParams) -> bool:
    raw = _single(query, "offline_token")
    if raw is None:
        return False
    if raw not in ("true", "false"):
        raise TokenRequestInvalid(
            f"offline_token must be true or false, got {raw[:40]!r}",
            detail={"parameter": "offline_token"},
        )
    return raw == "true"


def _credentials(request: Request) -> BasicCredentials | None:
    try:
        credentials = parse_authorization(request.headers.get("authorization"))
    except CredentialsMalformed as exc:
        raise Unauthorized(str(exc), headers=BASIC_CHALLENGE) from None
    if credentials is not None and not isinstance(credentials, BasicCredentials):
        raise Unauthorized(
            "the token endpoint takes Basic credentials (a name and a password, personal access"
            " token or robot secret)",
            headers=BASIC_CHALLENGE,
        )
    return credentials


async def get_token(request: Request) -> Response:
    grants = context(request).access.grants
    query = request.query_params
    service = _single(query, "service")
    if service is not None and (problem := service_problem(service, grants.service)):
        raise TokenRequestInvalid(problem, detail={"parameter": "service"})
    offline = _offline(query)
    client_id = _single(query, "client_id") or ""
    if problem := client_id_problem(client_id):
        raise TokenRequestInvalid(problem, detail={"parameter": "client_id"})
    account = _single(query, "account")
    scopes = query.getlist("scope")
    credentials = _credentials(request)
    if credentials is None:
        grant = await in_pool(grants.for_anonymous, scopes)
    else:
        if account and account != credentials.name:
            raise TokenRequestInvalid(
                "account does not match the name of the credentials",
                detail={"parameter": "account"},
            )
        origin = caller_of(request)
        # A robot's secret (a digest, not a password hash) needs two indexed reads and one
        # signature: answered on the loop, cheaper than the thread hop (decision 017), unless
        # a refresh token is to be stored or a failure counted.
        quick = (
            None
            if offline
            else fast_read(
                grants.for_robot_by_reads, credentials.name, credentials.secret, origin, scopes
            )
        )
        grant = quick or await in_pool(
            grants.for_credentials,
            credentials.name,
            credentials.secret,
            origin,
            scopes,
            offline,
            client_id,
        )
    return json_response(TokenResponse.of(grant), headers=NO_STORE)
