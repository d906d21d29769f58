"""How the CLI signs its requests to a server, from the credentials it found for it.

- a password, personal access token or robot secret: Basic credentials on every request;
- a refresh token (an auth file's `identitytoken`, as `cargohold login` and `docker login`
  store it): Basic credentials too, the account's name with the refresh token, which the
  server takes as its holder with the holder's roles as they are now (on the admin API as on
  `/v2/`);
- nothing: anonymous.

The credentials are looked up at the first request, so a command that fails before it talks to
the server never runs a credential helper, and a lookup error is the command's one-line error.
The token endpoint is used only by `cargohold login` and `logout` (login_cmd.py), which find it
here (`discover`).
"""

from __future__ import annotations

import base64
from collections.abc import Generator
from dataclasses import dataclass

import httpx

from cargohold.cli.auth_files import server_host
from cargohold.cli.client import ClientError
from cargohold.cli.credentials import Credential, CredentialsUnreadable, registry_credentials
from cargohold.cli.registry_auth import parse_challenge


def login_hint(server: str) -> str:
    return f"run `cargohold login {server_host(server)}`"


@dataclass(frozen=True)
class Challenge:
    """Where the server hands out registry tokens (its 401's `Bearer realm=...,service=...`)."""

    realm: str
    service: str


def bearer_challenge(response: httpx.Response) -> Challenge | None:
    scheme, values = parse_challenge(response.headers.get("www-authenticate", ""))
    if scheme != "bearer" or not values.get("realm"):
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

    def __init__(self, base: str) -> None:
        self.base = base
        self._looked_up = False
        self.credential: Credential | None = None

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
        if credential is not None:
            pair = f"{credential.name}:{credential.secret}".encode()
            request.headers["Authorization"] = f"Basic {base64.b64encode(pair).decode()}"
        yield request
