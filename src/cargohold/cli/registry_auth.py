"""Signing in to any registry as docker and podman do: the CLI's one implementation of the
Docker token flow, for every command that talks the OCI API to a registry (sign, verify,
`tags --key`, scans of remote images; registry_client.py).

- The request goes out anonymously. On a 401 with `Basic`, it is sent again with Basic
  credentials; on `Bearer realm=...,service=...[,scope=...]`, a registry token for the
  repository's scope is fetched from the realm: a refresh token (an `identitytoken`) with an
  OAuth2 `grant_type=refresh_token` POST, a password by GET with Basic credentials, nothing
  anonymously (distribution's token and OAuth specs).
- Credentials come from the CLI's chain (credentials.py: `CARGOHOLD_USERNAME`/`_PASSWORD`,
  the containers auth files, docker's config.json and its credential helpers), looked up at
  the first challenge. Docker Hub is one registry under several names (`docker.io`,
  `index.docker.io`, `registry-1.docker.io`, the API's host): each is tried.
- A refusal is a RegistryError whose one line says what to do.
"""

from __future__ import annotations

import base64
from collections.abc import Generator

import httpx

from cargohold.cli.auth_files import server_host
from cargohold.cli.credentials import Credential, CredentialsUnreadable, registry_credentials
from cargohold.cli.references import registry_base
from cargohold.trust.discovery import SourceError

# The OAuth2 client id the CLI names itself with at token endpoints.
CLIENT_ID = "cargohold"
DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
# The names docker's config.json and the containers auth files key Docker Hub by.
DOCKER_HUB_KEYS = ("index.docker.io", "docker.io", "registry-1.docker.io")


class RegistryError(SourceError):
    """A registry call that failed; the message says which and why, in one line."""


def is_docker_hub(host: str) -> bool:
    return host in DOCKER_HUB_KEYS


def api_base(host: str, plain_http: bool = False) -> str:
    """The URL of the registry a reference names by HOST[:PORT]: Docker Hub's API for any of
    its names, plain HTTP for loopback (or when asked), HTTPS otherwise."""
    return registry_base(DOCKER_HUB_API if is_docker_hub(host) else host, plain_http)


def find_credential(base: str, repository: str) -> Credential | None:
    """The credentials for the registry at `base` (a URL), under any of its names."""
    host = server_host(base)
    try:
        for name in DOCKER_HUB_KEYS if is_docker_hub(host) else (host,):
            found = registry_credentials(name, repository=repository)
            if found is not None:
                return found
    except CredentialsUnreadable as exc:
        raise RegistryError(str(exc)) from None
    return None


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """(scheme lower-cased, params) of a WWW-Authenticate header: `Bearer realm="r",
    service="s",scope="repository:a:pull,push"` (a quoted value may hold commas)."""
    scheme, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    for part in _split_params(rest):
        name, _, value = part.partition("=")
        if name.strip():
            params[name.strip().lower()] = value.strip().strip('"')
    return scheme.lower(), params


def _split_params(text: str) -> list[str]:
    parts, current, quoted = [], "", False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            parts.append(current)
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current)
    return parts


def basic_authorization(credential: Credential) -> str:
    pair = f"{credential.name}:{credential.secret}".encode()
    return f"Basic {base64.b64encode(pair).decode()}"


def refusal(host: str, credential: Credential | None, status: int) -> str:
    """What a 401 (or a token endpoint's refusal) means for the user, and what to do."""
    if credential is None:
        said = f"not signed in; log in first: `cargohold login {host}` (or `docker login {host}`)"
    else:
        said = (
            f"the credentials from {credential.source} were not accepted; log in again: "
            f"`cargohold login {host}`"
        )
    return f"authentication required (HTTP {status}): {said}"


class RegistryAuth(httpx.Auth):
    """Docker's token flow for one repository of one registry (module docstring)."""

    requires_response_body = True

    def __init__(self, base: str, repository: str, actions: str) -> None:
        self.base = base
        self.host = server_host(base)
        self.repository = repository
        self.scope = f"repository:{repository}:{actions}"
        self._looked_up = False
        self._credential: Credential | None = None
        self._authorization: str | None = None

    @property
    def credential(self) -> Credential | None:
        if not self._looked_up:
            self._credential = find_credential(self.base, self.repository)
            self._looked_up = True
        return self._credential

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self._authorization:
            request.headers["Authorization"] = self._authorization
        response = yield request
        if response.status_code != 401:
            return
        scheme, params = parse_challenge(response.headers.get("www-authenticate", ""))
        if scheme == "basic":
            credential = self.credential
            authorization = basic_authorization(credential) if credential else None
        elif scheme == "bearer" and params.get("realm"):
            token_response = yield self._token_request(params)
            authorization = self._bearer(token_response)
        else:
            return
        if authorization is None or authorization == self._authorization:
            return
        self._authorization = authorization
        request.headers["Authorization"] = authorization
        yield request

    def _token_request(self, params: dict[str, str]) -> httpx.Request:
        realm, service = params["realm"], params.get("service", "")
        scopes = list(
            dict.fromkeys([self.scope] + ([params["scope"]] if params.get("scope") else []))
        )
        credential = self.credential
        if credential is not None and credential.identity_token:
            form = {
                "grant_type": "refresh_token",
                "refresh_token": credential.secret,
                "service": service,
                "scope": " ".join(scopes),
                "client_id": CLIENT_ID,
            }
            return httpx.Request("POST", realm, data=form)
        query: list[tuple[str, str]] = [("service", service)] if service else []
        query += [("scope", scope) for scope in scopes]
        headers = {}
        if credential is not None:
            query.append(("account", credential.name))
            headers["Authorization"] = basic_authorization(credential)
        return httpx.Request("GET", realm, params=query, headers=headers)

    def _bearer(self, response: httpx.Response) -> str:
        if response.status_code in (401, 403):
            refused = refusal(self.host, self.credential, response.status_code)
            raise RegistryError(f"{self.host}: the token endpoint refused: {refused}")
        if response.status_code != 200:
            raise RegistryError(
                f"{self.host}: the token endpoint answered HTTP {response.status_code}"
            )
        try:
            answer = response.json()
            token = answer.get("token") or answer.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise RegistryError(f"{self.host}: the token endpoint gave no token")
        return f"Bearer {token}"
