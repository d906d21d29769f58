"""The Docker token flow, as registry clients sign in: a 401 with a `Bearer realm=...` challenge
sends the client to the token endpoint with its name and secret, and it sends the request again
with the token it got. Tokens are kept per scope, as docker keeps them, so a client signs in
once per repository and action set, not per request."""

from __future__ import annotations

import re
from collections.abc import Generator

import httpx

from tests.support.accounts import Login

_PARAM = re.compile(r'(\w+)="([^"]*)"')


def challenge_params(header: str) -> dict[str, str]:
    """The parameters of a `Bearer realm="...",service="...",scope="..."` challenge."""
    scheme, _, rest = header.partition(" ")
    assert scheme.lower() == "bearer", header
    return dict(_PARAM.findall(rest))


class TokenFlow(httpx.Auth):
    """httpx auth that answers /v2/'s Bearer challenges with tokens from the challenge's
    realm, and sends the name and secret to the admin API (as the `cargohold` CLI does)."""

    requires_response_body = True

    def __init__(self, login: Login) -> None:
        self.login = login
        self._tokens: dict[tuple[str, str], str] = {}
        # host -> (realm, service) of the last challenge it sent.
        self._challenges: dict[str, tuple[str, str]] = {}

    def _token(self, realm: str, service: str, scope: str) -> str:
        response = httpx.get(
            realm,
            params={"service": service, "scope": scope} if scope else {"service": service},
            auth=self.login.auth,
            timeout=60,
        )
        response.raise_for_status()
        return str(response.json()["token"])

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if not request.url.path.startswith("/v2/"):
            # The admin API and the token endpoint take the name and secret themselves.
            yield next(self.login.auth.auth_flow(request))
            return
        host = f"{request.url.host}:{request.url.port}"
        name, action = _scope_hint(request)
        key = (host, f"{name}:{action}")
        token = self._tokens.get(key)
        known = self._challenges.get(host)
        if token is None and action == "push" and known is not None:
            # As docker does before a push: ask for pull and push up front, so a body that
            # can be sent only once (a stream) is never answered with a challenge.
            token = self._token(known[0], known[1], f"repository:{name}:pull,push")
            self._tokens[key] = token
        if token is not None:
            request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code != 401:
            return
        challenge = response.headers.get("www-authenticate", "")
        if not challenge.lower().startswith("bearer "):
            return
        params = challenge_params(challenge)
        self._challenges[host] = (params["realm"], params.get("service", ""))
        token = self._token(params["realm"], params.get("service", ""), params.get("scope", ""))
        self._tokens[key] = token
        request.headers["Authorization"] = f"Bearer {token}"
        yield request


def _scope_hint(request: httpx.Request) -> tuple[str, str]:
    """What the kept token is for: the repository, and `push` when the request changes it
    (a pull-only token then is not sent for a push, which would cost a round trip)."""
    path = request.url.path
    name = path.removeprefix("/v2/").split("/blobs/")[0].split("/manifests/")[0]
    name = name.split("/tags/")[0].split("/referrers/")[0]
    return name, "pull" if request.method in ("GET", "HEAD") else "push"
