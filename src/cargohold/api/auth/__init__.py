"""The token endpoint the registry's 401 challenges point at (`realm` = /auth/token):
the Docker token spec's GET (token.py) and distribution's OAuth2 POST and a revocation
endpoint (oauth.py)."""

from __future__ import annotations

from starlette.routing import Route

from cargohold.api.auth.oauth import post_token, revoke_token
from cargohold.api.auth.token import get_token

# The realm of the challenges on /v2/ and /api/v1/: fixed, so they can name it.
TOKEN_PATH = "/auth/token"
REVOKE_PATH = "/auth/revoke"

ROUTES = [
    Route(TOKEN_PATH, get_token, methods=["GET"]),
    Route(TOKEN_PATH, post_token, methods=["POST"]),
    Route(REVOKE_PATH, revoke_token, methods=["POST"]),
]
