"""The credentials the CLI sends to a server, found where podman, skopeo and docker keep them.

The lookup, first match wins (containers-auth.json(5), then docker's files):

1. `CARGOHOLD_USERNAME` and `CARGOHOLD_PASSWORD`: for CI, a robot's secret or a personal
   access token;
2. `$REGISTRY_AUTH_FILE`, else `$XDG_RUNTIME_DIR/containers/auth.json` (where `cargohold
   login` and `podman login` write);
3. `$XDG_CONFIG_HOME/containers/auth.json` (`$HOME/.config/...` by default);
4. `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`.

In each file a `credHelpers` entry for the server, then a `credsStore`, then the `auths` entry
(credential_helpers.py runs the helpers). Without any, the CLI asks anonymously.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cargohold.cli.auth_files import (
    CredentialsUnreadable,
    auth_entry,
    helper_for,
    read_document,
    server_host,
)
from cargohold.cli.credential_helpers import HELPER_PREFIX, helper_get

__all__ = [
    "AUTH_FILE_ENV",
    "Credential",
    "CredentialsUnreadable",
    "auth_files",
    "login_file",
    "registry_credentials",
]

AUTH_FILE_ENV = "REGISTRY_AUTH_FILE"
USERNAME_ENV = "CARGOHOLD_USERNAME"
PASSWORD_ENV = "CARGOHOLD_PASSWORD"


@dataclass(frozen=True)
class Credential:
    """What to sign in with: a name and a secret (a password, personal access token or robot
    secret, sent as Basic credentials), or a refresh token (`identity_token`), exchanged at
    the token endpoint for registry tokens. `source` says where it was found."""

    name: str
    secret: str = field(repr=False)
    identity_token: bool = False
    source: str = ""


def _home(env: Mapping[str, str]) -> Path:
    return Path(env.get("HOME") or Path.home())


def login_file(env: Mapping[str, str] | None = None) -> Path:
    """The file `cargohold login` writes and `logout` edits unless told `--authfile`: podman's
    (`$REGISTRY_AUTH_FILE`, else `$XDG_RUNTIME_DIR/containers/auth.json`). Without
    `XDG_RUNTIME_DIR`, the one under `$XDG_CONFIG_HOME` (read next in the lookup)."""
    env = os.environ if env is None else env
    if env.get(AUTH_FILE_ENV):
        return Path(env[AUTH_FILE_ENV])
    if env.get("XDG_RUNTIME_DIR"):
        return Path(env["XDG_RUNTIME_DIR"]) / "containers" / "auth.json"
    return _config_auth_file(env)


def _config_auth_file(env: Mapping[str, str]) -> Path:
    config_home = Path(env.get("XDG_CONFIG_HOME") or _home(env) / ".config")
    return config_home / "containers" / "auth.json"


def auth_files(env: Mapping[str, str] | None = None) -> list[Path]:
    """The files of the lookup, in order (duplicates once)."""
    env = os.environ if env is None else env
    docker_dir = Path(env["DOCKER_CONFIG"]) if env.get("DOCKER_CONFIG") else _home(env) / ".docker"
    paths = [login_file(env), _config_auth_file(env), docker_dir / "config.json"]
    return list(dict.fromkeys(paths))


def registry_credentials(
    registry_url: str, env: Mapping[str, str] | None = None
) -> Credential | None:
    """The credentials for the server at `registry_url` (a URL or `HOST[:PORT]`), or None when
    nothing holds any. Raises CredentialsUnreadable for a file, entry or helper that cannot
    be read, or only one of the two variables."""
    env = os.environ if env is None else env
    name, secret = env.get(USERNAME_ENV, ""), env.get(PASSWORD_ENV, "")
    if name or secret:
        if not (name and secret):
            raise CredentialsUnreadable(f"set both {USERNAME_ENV} and {PASSWORD_ENV}, or neither")
        return Credential(name, secret, source=f"${USERNAME_ENV} and ${PASSWORD_ENV}")
    host = server_host(registry_url)
    for path in auth_files(env):
        document = read_document(path)
        if document is None:
            continue
        helper = helper_for(document, host)
        if helper is not None:
            found = helper_get(helper, host, str(path), env)
            if found is not None:
                return Credential(*found, source=f"{HELPER_PREFIX}{helper}")
        found = auth_entry(document, host, path)
        if found is not None:
            return Credential(*found, source=str(path))
    return None
