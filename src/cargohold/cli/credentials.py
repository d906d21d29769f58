"""The credentials the CLI sends to a server, found where podman, skopeo and docker keep them,
and where `cargohold login` saves them.

The lookup, first match wins (containers-auth.json(5), then docker's files):

0. the file the global `--authfile FILE` names: asked for on the command line, it comes first;
1. `CARGOHOLD_USERNAME` and `CARGOHOLD_PASSWORD`: for CI, a robot's secret or a personal
   access token;
2. `$REGISTRY_AUTH_FILE`, else `$XDG_RUNTIME_DIR/containers/auth.json` (where `podman login`
   writes); neither with `--authfile`, whose file takes their place;
3. `$XDG_CONFIG_HOME/containers/auth.json` (`$HOME/.config/...` by default);
4. `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json` (where `docker login` and
   `cargohold login` write).

In each file a `credHelpers` entry for the server, then a `credsStore`, then the `auths` entry
for the command's repository or its longest namespace (`HOST/team/app`, `HOST/team`), then the
server's own (credential_helpers.py runs the helpers). Without any, the CLI asks anonymously.

`cargohold login` writes docker's file, through the credential helper it names for the server
if any, as `docker login` does; `--authfile` or `$REGISTRY_AUTH_FILE` pick another file, as
they do for `podman login`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cargohold.cli.auth_files import (
    CredentialsUnreadable,
    auth_entry,
    encode_entry,
    helper_for,
    read_document,
    remove_entry,
    server_host,
    store_entry,
)
from cargohold.cli.credential_helpers import (
    HELPER_PREFIX,
    helper_erase,
    helper_get,
    helper_store,
)

__all__ = [
    "AUTH_FILE_ENV",
    "Credential",
    "CredentialsUnreadable",
    "auth_files",
    "docker_config_file",
    "forget_login",
    "login_file",
    "registry_credentials",
    "save_login",
    "use_auth_file",
    "use_command_parameters",
]

AUTH_FILE_ENV = "REGISTRY_AUTH_FILE"
USERNAME_ENV = "CARGOHOLD_USERNAME"
PASSWORD_ENV = "CARGOHOLD_PASSWORD"
# The parameters a command names its repository or image with (`tags REPOSITORY`,
# `rm REPOSITORY:TAG`, `hold add --repository`, `scan HOST/REPOSITORY:TAG`, ...).
REPOSITORY_PARAMETERS = ("repository", "image")

_chosen_auth_file: Path | None = None
_command_parameters: Mapping[str, object] | None = None


@dataclass(frozen=True)
class Credential:
    """What to sign in with: a name and a secret (a password, personal access token or robot
    secret, sent as Basic credentials), or a refresh token (`identity_token`), exchanged at
    the token endpoint for registry tokens. `source` says where it was found. The name of a
    refresh token a credential helper keeps is "" (docker stores it without one)."""

    name: str
    secret: str = field(repr=False)
    identity_token: bool = False
    source: str = ""


def use_auth_file(path: Path | None) -> None:
    """The file the global `--authfile` names (None: none), in `$REGISTRY_AUTH_FILE`'s place."""
    global _chosen_auth_file
    _chosen_auth_file = path


def _home(env: Mapping[str, str]) -> Path:
    return Path(env.get("HOME") or Path.home())


def _auth_file_override(env: Mapping[str, str]) -> Path | None:
    if _chosen_auth_file is not None:
        return _chosen_auth_file
    return Path(env[AUTH_FILE_ENV]) if env.get(AUTH_FILE_ENV) else None


def docker_config_file(env: Mapping[str, str] | None = None) -> Path:
    """Docker's `config.json`: under `$DOCKER_CONFIG`, else `~/.docker`."""
    env = os.environ if env is None else env
    docker_dir = Path(env["DOCKER_CONFIG"]) if env.get("DOCKER_CONFIG") else _home(env) / ".docker"
    return docker_dir / "config.json"


def login_file(env: Mapping[str, str] | None = None) -> Path:
    """The file `cargohold login` writes and `logout` edits unless told `--authfile`: the
    global `--authfile`, else `$REGISTRY_AUTH_FILE` (as podman), else docker's config.json."""
    env = os.environ if env is None else env
    return _auth_file_override(env) or docker_config_file(env)


def _config_auth_file(env: Mapping[str, str]) -> Path:
    config_home = Path(env.get("XDG_CONFIG_HOME") or _home(env) / ".config")
    return config_home / "containers" / "auth.json"


def auth_files(env: Mapping[str, str] | None = None) -> list[Path]:
    """The files of the lookup, in order (duplicates once)."""
    env = os.environ if env is None else env
    first = _auth_file_override(env)
    if first is None and env.get("XDG_RUNTIME_DIR"):
        first = Path(env["XDG_RUNTIME_DIR"]) / "containers" / "auth.json"
    paths = [first, _config_auth_file(env), docker_config_file(env)]
    return list(dict.fromkeys(path for path in paths if path is not None))


def repository_of(text: str, host: str) -> str | None:
    """The repository an argument names on the server `host` (`team/app`, `team/app:v1`,
    `team/app@sha256:...`, `HOST/team/app:v1`), or None for anything else (a local path,
    another server's image: a first component with a dot or a port names a server, as
    docker reads it)."""
    from cargohold.oci.names import is_valid_name

    name = text.partition("@")[0]
    if name.rfind(":") > name.rfind("/"):
        name = name[: name.rfind(":")]
    if name.startswith(f"{host}/"):
        name = name[len(host) + 1 :]
    else:
        first, slash, _ = name.partition("/")
        if slash and ("." in first or ":" in first or first == "localhost"):
            return None
    return name if is_valid_name(name) else None


def use_command_parameters(parameters: Mapping[str, object] | None) -> None:
    """The running command's parameters (its click context's, filled in as they are parsed),
    which name the repository it is about, if any."""
    global _command_parameters
    _command_parameters = parameters


def _command_repository(host: str) -> str | None:
    """The repository the running `cargohold` command is about, from its parameters; None
    outside a command, or for a command about no one repository."""
    for parameter in REPOSITORY_PARAMETERS:
        value = (_command_parameters or {}).get(parameter)
        if isinstance(value, str) and value:
            return repository_of(value, host)
    return None


def registry_credentials(
    registry_url: str, env: Mapping[str, str] | None = None, repository: str | None = None
) -> Credential | None:
    """The credentials for the server at `registry_url` (a URL or `HOST[:PORT]`), or None when
    nothing holds any; an entry for `repository` (default: the running command's) or one of
    its namespaces comes before the server's in each file. Raises CredentialsUnreadable for a
    file, entry or helper that cannot be read, or only one of the two variables."""
    env = os.environ if env is None else env
    host = server_host(registry_url)
    if repository is None:
        repository = _command_repository(host)
    files = auth_files(env)
    if _chosen_auth_file is not None:
        # Asked for on the command line: before the variables, which may be set for others.
        chosen, files = files[0], files[1:]
        found = _from_file(chosen, host, repository, env)
        if found is not None:
            return found
    name, secret = env.get(USERNAME_ENV, ""), env.get(PASSWORD_ENV, "")
    if name or secret:
        if not (name and secret):
            raise CredentialsUnreadable(f"set both {USERNAME_ENV} and {PASSWORD_ENV}, or neither")
        return Credential(name, secret, source=f"${USERNAME_ENV} and ${PASSWORD_ENV}")
    for path in files:
        found = _from_file(path, host, repository, env)
        if found is not None:
            return found
    return None


def _from_file(
    path: Path, host: str, repository: str | None, env: Mapping[str, str]
) -> Credential | None:
    """The server's credentials in one auth file (its helper's, then its entries); None when
    the file is missing or holds none."""
    document = read_document(path)
    if document is None:
        return None
    helper = helper_for(document, host)
    if helper is not None:
        found = helper_get(helper, host, str(path), env)
        if found is not None:
            return Credential(*found, source=f"{HELPER_PREFIX}{helper}")
    entry = auth_entry(document, host, path, repository)
    return Credential(*entry, source=str(path)) if entry is not None else None


def save_login(
    path: Path, host: str, credential: Credential, env: Mapping[str, str] | None = None
) -> str:
    """Save the server's credentials as docker does: through the credential helper the file
    names for the server (its `credHelpers` entry, else its `credsStore`), with an empty
    placeholder in `auths`; else in `auths` itself. Every other entry and key of the file is
    kept. Where they went: the helper (`docker-credential-NAME`) or the file."""
    env = os.environ if env is None else env
    document = read_document(path) or {}
    helper = helper_for(document, host)
    saved = (credential.name, credential.secret, credential.identity_token)
    if helper is None:
        store_entry(path, host, encode_entry(*saved))
        return str(path)
    helper_store(helper, host, saved, str(path), env)
    store_entry(path, host, {})
    return f"{HELPER_PREFIX}{helper}"


def forget_login(
    path: Path, host: str, env: Mapping[str, str] | None = None
) -> tuple[Credential | None, bool]:
    """Remove the server's credentials from the file and from the credential helper it names
    for the server: what was saved (None when unknown) and whether anything was removed."""
    env = os.environ if env is None else env
    document = read_document(path)
    if document is None:
        return None, False
    found: Credential | None = None
    removed = False
    helper = helper_for(document, host)
    if helper is not None:
        held = helper_get(helper, host, str(path), env)
        if held is not None:
            found = Credential(*held, source=f"{HELPER_PREFIX}{helper}")
        removed = helper_erase(helper, host, str(path), env)
    entry = remove_entry(path, host)
    if entry is not None:
        removed = True
        if found is None:
            try:
                held = auth_entry({"auths": {host: entry}}, host, path)
            except CredentialsUnreadable:  # removed all the same
                held = None
            found = None if held is None else Credential(*held, source=str(path))
    return found, removed
