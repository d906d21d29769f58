"""`cargohold login` and `logout`: sign in to a server as `podman login` and `docker login` do.

`login` checks the credentials at the server's token endpoint (`GET /auth/token` with
`offline_token=true`) and saves what it gets where `docker login` does: the refresh token, as
docker's `identitytoken`, so the password is never stored; the password only when the server
gives no refresh token or `--save-password` asks for it. The place is docker's config.json,
through the credential helper it names for the server if any (`--authfile` or
`$REGISTRY_AUTH_FILE`: that file instead, as for `podman login`). Every `cargohold` command,
and docker, podman and skopeo, then find it there (credentials.py has the lookup).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cargohold.cli.auth_files import (
    CredentialsUnreadable,
    auth_entry,
    keys_for,
    read_document,
    server_host,
)
from cargohold.cli.client import DEFAULT_REGISTRY, base_url
from cargohold.cli.common import fail
from cargohold.cli.credentials import (
    Credential,
    auth_files,
    forget_login,
    login_file,
    save_login,
)

if TYPE_CHECKING:
    import httpx

ServerArgument = Annotated[
    str,
    typer.Argument(
        metavar="SERVER",
        envvar="CARGOHOLD_REGISTRY",
        help="The server, as HOST:PORT or its URL (https://HOST for TLS).",
        show_default=True,
    ),
]
AuthFileOption = Annotated[
    Path | None,
    typer.Option(
        "--authfile",
        help="The auth file to write; default: the global --authfile, else "
        "$REGISTRY_AUTH_FILE, else docker's config.json ($DOCKER_CONFIG or ~/.docker).",
        show_default=False,
    ),
]
PASSWORD_WARNING = "WARNING! Using --password via the CLI is insecure. Use --password-stdin."
TIMEOUT_SECONDS = 30.0


def _password(
    username: str | None, password: str | None, password_stdin: bool, force: bool
) -> tuple[str, str]:
    if password is not None and password_stdin:
        raise fail("--password and --password-stdin are mutually exclusive")
    if password is not None:
        if not force:
            raise fail(
                "a password on the command line can be read by other users of this machine "
                "and stays in the shell's history: use --password-stdin (or --force)"
            )
        print(PASSWORD_WARNING, file=sys.stderr)
    if password_stdin:
        if not username:
            raise fail("--password-stdin needs --username")
        password = sys.stdin.readline().rstrip("\r\n")
    try:
        if not username:
            username = typer.prompt("Username", err=True).strip()
        if password is None:
            password = typer.prompt("Password", hide_input=True, err=True)
    except typer.Abort:  # standard input closed, or ^C
        typer.echo(err=True)  # end the prompt's line
        raise fail("no user name and password given (-u NAME --password-stdin)") from None
    if not username or not password:
        raise fail("a user name and a password are needed")
    return username, password


def _error_of(response: httpx.Response) -> str:
    try:
        error = response.json()["errors"][0]
        return f"{error['code']}: {error['message']}"
    except (ValueError, KeyError, IndexError, TypeError):
        return f"HTTP {response.status_code}"


def _sign_in(base: str, username: str, password: str, verify: bool) -> str | None:
    """Check the credentials at the server; its refresh token, or None when it gives none."""
    import httpx

    from cargohold.cli.registry_auth import CLIENT_ID
    from cargohold.cli.server_auth import discover

    host = server_host(base)
    try:
        with httpx.Client(verify=verify, timeout=TIMEOUT_SECONDS) as http:
            challenge = discover(http, base)
            if challenge is None:  # a server that lets anyone in: check the credentials anyway
                response = http.get(f"{base}/v2/", auth=(username, password))
            else:
                params = {"offline_token": "true", "client_id": CLIENT_ID, "account": username}
                if challenge.service:
                    params["service"] = challenge.service
                response = http.get(challenge.realm, params=params, auth=(username, password))
    except httpx.HTTPError as exc:
        raise fail(f"cannot reach {base}: {exc}") from None
    if response.status_code == 401:
        raise fail(f"login to {host} failed: the user name or password was not accepted")
    if response.status_code == 429:
        wait = response.headers.get("retry-after", "a while")
        raise fail(f"login to {host} refused: too many failed logins; try again in {wait} s")
    if response.status_code != 200:
        raise fail(f"login to {host} failed: {_error_of(response)}")
    if challenge is None:
        return None
    try:
        token = response.json().get("refresh_token")
    except (ValueError, AttributeError):
        raise fail(f"login to {host} failed: the token endpoint's answer is not JSON") from None
    return token if isinstance(token, str) and token else None


def login(
    server: ServerArgument = DEFAULT_REGISTRY,
    username: Annotated[
        str | None,
        typer.Option("--username", "-u", help="User or robot name (asked if not given)."),
    ] = None,
    password: Annotated[
        str | None,
        typer.Option(
            "--password",
            "-p",
            help="Password, personal access token or robot secret; refused without --force "
            "(use --password-stdin).",
        ),
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Accept a password given with --password.")
    ] = False,
    save_password: Annotated[
        bool,
        typer.Option(
            "--save-password",
            help="Save the password (better: a personal access token or robot secret) instead "
            "of a refresh token, as podman login does.",
        ),
    ] = False,
    authfile: AuthFileOption = None,
) -> None:
    """Sign in to a server and save the credentials for later commands (and podman, skopeo,
    docker)."""
    base = base_url(server)
    host = server_host(base)
    username, secret = _password(username, password, password_stdin, force)
    refresh_token = _sign_in(base, username, secret, verify=not base.startswith("http://"))
    if save_password and refresh_token:
        _revoke(base, refresh_token)  # not kept: end it
        refresh_token = None
    path = authfile or login_file()
    credential = Credential(username, refresh_token or secret, identity_token=bool(refresh_token))
    try:
        saved_in = save_login(path, host, credential)
    except (OSError, CredentialsUnreadable) as exc:
        if refresh_token:  # kept nowhere: end it
            _revoke(base, refresh_token)
        raise fail(f"cannot save the login in {path}: {exc}") from None
    if refresh_token:
        print(
            f"signed in to {host} as {username}; a refresh token is saved in {saved_in}",
            file=sys.stderr,
        )
    elif saved_in == str(path):
        print(f"WARNING! Your password will be stored unencrypted in {path}.", file=sys.stderr)
    else:
        print(
            f"signed in to {host} as {username}; the password is saved in {saved_in}",
            file=sys.stderr,
        )
    shadow = _elsewhere(host, path, before=True)
    if shadow:
        print(
            f"warning: {shadow[0]} {shadow[1]} too, and is read first "
            f"(`cargohold logout --authfile {shadow[0]} {host}` removes them)",
            file=sys.stderr,
        )
    print("Login Succeeded!")


def _revoke(base: str, refresh_token: str) -> str | None:
    """Revoke the refresh token at the server (`/auth/revoke` beside its token endpoint); a
    reason when that did not happen."""
    import httpx

    from cargohold.cli.registry_auth import CLIENT_ID
    from cargohold.cli.server_auth import discover

    try:
        with httpx.Client(verify=not base.startswith("http://"), timeout=TIMEOUT_SECONDS) as http:
            challenge = discover(http, base)
            realm = challenge.realm if challenge else f"{base}/auth/token"
            endpoint = realm.rsplit("/", 1)[0] + "/revoke"
            response = http.post(endpoint, data={"token": refresh_token, "client_id": CLIENT_ID})
    except httpx.HTTPError as exc:
        return f"cannot reach {base}: {type(exc).__name__}"
    return None if response.status_code == 200 else f"HTTP {response.status_code}"


def logout(server: ServerArgument = DEFAULT_REGISTRY, authfile: AuthFileOption = None) -> None:
    """Remove a server's saved credentials (its refresh token is revoked at the server)."""
    base = base_url(server)
    host = server_host(base)
    path = authfile or login_file()
    try:
        saved, removed = forget_login(path, host)
    except (OSError, CredentialsUnreadable) as exc:
        raise fail(f"cannot edit {path}: {exc}") from None
    if not removed:
        other = _elsewhere(host, path)
        hint = f"; {other[0]} {other[1]} (--authfile {other[0]})" if other else ""
        raise fail(f"not logged in to {host} in {path}{hint}")
    if saved is not None and saved.identity_token:
        reason = _revoke(base, saved.secret)
        if reason:
            print(f"warning: the refresh token was not revoked ({reason})", file=sys.stderr)
    print(f"Removed login credentials for {host}")


def _elsewhere(host: str, edited: Path, before: bool = False) -> tuple[Path, str] | None:
    """Another file of the lookup that has credentials for the server (an `auths` entry, or a
    `credHelpers` entry for it), and what it has; with `before`, only the files read before
    `edited`."""
    for path in auth_files():
        if path == edited:
            if before:
                return None
            continue
        try:
            document = read_document(path)
            if document is None:
                continue
            if auth_entry(document, host, path) is not None:
                return path, f"has credentials for {host}"
            if keys_for(document, "credHelpers", host):
                return path, f"names a credential helper for {host}"
        except CredentialsUnreadable:
            continue
    return None
