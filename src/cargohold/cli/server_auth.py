"""How the CLI signs its requests to a server, from the credentials it found for it.

- a password, personal access token or robot secret: Basic credentials on every request;
- a refresh token (an auth file's `identitytoken`, as `cargohold login` and `docker login`
  store it): exchanged at the server's token endpoint (`POST` with
  `grant_type=refresh_token`, `client_id=cargohold`) for a registry token per scope, sent as
  Bearer and kept for its lifetime, within one command;
- nothing: anonymous.

The credentials are looked up at the first request, so a command that fails before it talks to
the server never runs a credential helper, and a lookup error is the command's one-line error.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Generator
from dataclasses import dataclass

import httpx

from cargohold.cli.auth_files import server_host
from cargohold.cli.client import ClientError
from cargohold.cli.credentials import Credential, CredentialsUnreadable, registry_credentials

CLIENT_ID = "cargohold"
# A registry token is used no later than this before it expires.
EXPIRY_MARGIN_SECONDS = 10.0
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')
# The repository a request acts on, and so the scope its token needs.
_REGISTRY_PATH = re.compile(r"^/v2/(?P<name>.+?)/(?P<kind>manifests|blobs|tags|referrers)/")
_API_PATH = re.compile(r"^/api/v1/repositories/(?P<name>.+?)/(?P<kind>tags|lifecycle|manifests/)")
_READS = frozenset({"GET", "HEAD"})
# Admin API listings show what the caller may pull; a registry token's caller may pull what its
# claim names, so their token names every repository the catalog lists.
LISTINGS = frozenset(
    {"/api/v1/repositories", "/api/v1/tag-rules", "/api/v1/holds", "/api/v1/scan-policies"}
)
CATALOG_SCOPE = "registry:catalog:*"
CATALOG_PAGE = 1000
MAX_CATALOG_PAGES = 100


def login_hint(server: str) -> str:
    return f"run `cargohold login {server_host(server)}`"


def scope_for(method: str, path: str) -> str:
    """The scope a registry token needs for the request; empty for a route a registry token
    cannot carry (the admin API's system and project actions)."""
    if path.rstrip("/") == "/v2/_catalog":
        return CATALOG_SCOPE
    matched = _REGISTRY_PATH.match(path)
    if matched:
        if method in _READS:
            action = "pull"
        elif method == "DELETE":
            action = "delete"
        else:
            action = "pull,push"
        return f"repository:{matched['name']}:{action}"
    matched = _API_PATH.match(path)
    if matched:
        if method in _READS:
            return f"repository:{matched['name']}:pull"
        if method == "POST" and path.endswith("/scan"):
            return f"repository:{matched['name']}:pull,push"
    return ""


@dataclass(frozen=True)
class Challenge:
    """Where the server hands out registry tokens (its 401's `Bearer realm=...,service=...`)."""

    realm: str
    service: str


def bearer_challenge(response: httpx.Response) -> Challenge | None:
    header = response.headers.get("www-authenticate", "")
    scheme, _, params = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    values = dict(_CHALLENGE_PARAM.findall(params))
    if not values.get("realm"):
        return None
    return Challenge(values["realm"], values.get("service", ""))


def discover(http: httpx.Client, base: str) -> Challenge | None:
    """The server's token endpoint, from the challenge of an anonymous `GET /v2/`; None when
    the server lets anyone in (its `auth` is off)."""
    response = http.get(f"{base}/v2/")
    challenge = bearer_challenge(response)
    if challenge is None and response.status_code == 401:
        return Challenge(f"{base}/auth/token", "")
    return challenge


class ServerAuth(httpx.Auth):
    """Signs each request with the server's credentials (found at the first request)."""

    def __init__(self, base: str, verify: bool, timeout: float) -> None:
        self.base = base
        self._verify = verify
        self._timeout = timeout
        self._looked_up = False
        self.credential: Credential | None = None
        self._discovered = False
        self._challenge: Challenge | None = None
        self._tokens: dict[str, tuple[str, float]] = {}
        self._pullable: str | None = None

    def _lookup(self) -> Credential | None:
        if not self._looked_up:
            try:
                self.credential = registry_credentials(self.base)
            except CredentialsUnreadable as exc:
                raise ClientError(str(exc)) from None
            self._looked_up = True
        return self.credential

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        credential = self._lookup()
        if credential is None:
            yield request
            return
        if not credential.identity_token:
            pair = f"{credential.name}:{credential.secret}".encode()
            request.headers["Authorization"] = f"Basic {base64.b64encode(pair).decode()}"
            yield request
            return
        path = request.url.path
        if path in LISTINGS and request.method in _READS:
            scope = self._pullable_scope(credential)
        else:
            scope = scope_for(request.method, path)
        token = self._token(credential, scope)
        if token:
            request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        # A registry route that wants a wider token names it in its challenge: ask once more.
        wanted = _CHALLENGE_PARAM.findall(response.headers.get("www-authenticate", ""))
        wider = dict(wanted).get("scope", "")
        if response.status_code == 401 and wider and wider != scope:
            token = self._token(credential, wider)
            if token:
                request.headers["Authorization"] = f"Bearer {token}"
                yield request

    def _pullable_scope(self, credential: Credential) -> str:
        """Pull on every repository the catalog lists for the caller (what a listing of the
        admin API shows someone signed in with a password), listed once per command."""
        if self._pullable is not None:
            return self._pullable
        token = self._token(credential, CATALOG_SCOPE)
        names: list[str] = []
        url: str | None = f"{self.base}/v2/_catalog?n={CATALOG_PAGE}"
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        with httpx.Client(verify=self._verify, timeout=self._timeout, headers=headers) as http:
            for _ in range(MAX_CATALOG_PAGES):
                if url is None:
                    break
                try:
                    response = http.get(url)
                    response.raise_for_status()
                    names.extend(response.json()["repositories"])
                except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                    raise ClientError(f"{self.base}/v2/_catalog: {exc}") from None
                following = response.links.get("next", {}).get("url")
                url = str(response.url.join(following)) if following else None
        self._pullable = " ".join(f"repository:{name}:pull" for name in names)
        return self._pullable

    def _token(self, credential: Credential, scope: str) -> str:
        """A registry token for the scope (from the cache while it lasts); empty when the
        server asks for none."""
        cached = self._tokens.get(scope)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        with httpx.Client(verify=self._verify, timeout=self._timeout) as http:
            try:
                if not self._discovered:
                    self._challenge = discover(http, self.base)
                    self._discovered = True
                if self._challenge is None:
                    return ""
                form = {
                    "grant_type": "refresh_token",
                    "refresh_token": credential.secret,
                    "client_id": CLIENT_ID,
                    "service": self._challenge.service,
                }
                if scope:
                    form["scope"] = scope
                started = time.monotonic()
                response = http.post(self._challenge.realm, data=form)
            except httpx.HTTPError as exc:
                raise ClientError(f"cannot reach {self.base}: {exc}") from None
        if response.status_code in (400, 401) and _oauth_error(response) == "invalid_grant":
            raise ClientError(
                f"{server_host(self.base)}: the saved sign-in ({credential.source}) has expired "
                f"or was revoked; {login_hint(self.base)}",
                "UNAUTHORIZED",
            )
        try:
            response.raise_for_status()
            answer = response.json()
            token = str(answer["access_token"])
            lifetime = float(answer.get("expires_in") or 60)
        except (httpx.HTTPStatusError, ValueError, KeyError, TypeError):
            raise ClientError(
                f"{self._challenge.realm}: no registry token (HTTP {response.status_code})"
            ) from None
        self._tokens[scope] = (token, started + lifetime - EXPIRY_MARGIN_SECONDS)
        return token


def _oauth_error(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error", ""))
    except (ValueError, AttributeError):
        return ""
