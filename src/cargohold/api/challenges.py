"""The words of the access check's refusals: the `WWW-Authenticate` challenges of the token
flow and of the admin API, and what a registry token's holder is told it lacks.

A challenge's parameters are quoted strings (RFC 6750 3): everything put in one comes from
here, fixed or made fit to quote (a Host header and a repository name are the client's).
"""

from __future__ import annotations

from starlette.requests import Request

from cargohold.api.access_errors import BASIC_CHALLENGE
from cargohold.api.route_access import CATALOG, REPOSITORY, Need
from cargohold.policy.scopes import CATALOG_SCOPE, challenge_scope
from cargohold.services.tokens import VerifiedToken

# The admin API's challenge: it takes the same credentials, but a client of it is a person or
# a script with a password, a personal access token or a robot secret, not the token flow.
ADMIN_CHALLENGE = BASIC_CHALLENGE["WWW-Authenticate"]
# A refusal's words (fixed: a challenge's error_description is a quoted string).
DENIED = "requested access to the resource is denied"
SIGN_IN_FIRST = "authentication required: anonymous access allows only pulls from public projects"


def on_registry(request: Request) -> bool:
    """The request is the registry API's (/v2/), whose clients follow the token flow."""
    return request.url.path.startswith("/v2")


def quotable(text: str) -> str:
    """Text fit for a quoted challenge parameter: a Host header is the client's to choose."""
    return "".join(c for c in text if c.isascii() and c.isprintable() and c not in '"\\ ')[:300]


def default_realm(request: Request) -> str:
    """The token endpoint at the address the client used (auth_token_realm unset)."""
    host = request.headers.get("host") or request.url.netloc
    return f"{request.url.scheme}://{quotable(host)}/auth/token"


def bearer_challenge(
    realm: str, service: str, scope: str, error: str = "", description: str = ""
) -> str:
    """The token flow's `Bearer realm=...,service=...[,scope=...][,error=...]` challenge."""
    challenge = f'Bearer realm="{realm}",service="{service}"'
    if scope:
        challenge += f',scope="{scope}"'
    if error:
        challenge += f',error="{error}"'
    if description:
        challenge += f',error_description="{description}"'
    return challenge


def scope_of(request: Request, need: Need) -> str:
    """The scope a challenge asks the client to fetch a token for ("" for none)."""
    if need.kind == CATALOG:
        return CATALOG_SCOPE
    if need.kind == REPOSITORY:
        return challenge_scope(quotable(request.path_params[need.param]), need.action)
    return ""


def scope_refusal_words(token: VerifiedToken) -> str:
    """What a 401 insufficient_scope tells a registry token's holder: denied, or (an anonymous
    token) to sign in first."""
    return DENIED if token.subject else SIGN_IN_FIRST
