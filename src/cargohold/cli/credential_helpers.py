"""Docker credential helpers: `docker-credential-<name> get|store|erase`, as docker runs them.

- `get`: the server (`HOST[:PORT]`) on standard input; the helper prints
  `{"ServerURL": ..., "Username": ..., "Secret": ...}`;
- `store`: that JSON on standard input;
- `erase`: the server on standard input.

A `Username` of `<token>` means the secret is an identity token (a refresh token) rather than
a password: docker stores a refresh token that way, without the account's name. A helper that
knows no credentials for the server says `credentials not found in native keychain` and fails.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping

from cargohold.cli.auth_files import CredentialsUnreadable

HELPER_PREFIX = "docker-credential-"
NOT_FOUND = "credentials not found in native keychain"
IDENTITY_TOKEN_USERNAME = "<token>"
HELPER_TIMEOUT_SECONDS = 60.0


def _run(
    name: str, action: str, given: str, named_in: str, env: Mapping[str, str]
) -> tuple[str, bool]:
    """The helper's standard output, and False when it said it has no such credentials; any
    other failure raises, naming the helper (never a secret)."""
    program = f"{HELPER_PREFIX}{name}"
    found = shutil.which(program, path=env.get("PATH"))
    if found is None:
        raise CredentialsUnreadable(f"{program} not found on PATH (named in {named_in})")
    try:
        done = subprocess.run(
            [found, action],
            input=given,
            capture_output=True,
            text=True,
            timeout=HELPER_TIMEOUT_SECONDS,
            check=False,
            env=dict(env),
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CredentialsUnreadable(f"{program} {action} failed: {type(exc).__name__}") from None
    if done.returncode != 0:
        said = (done.stdout.strip() or done.stderr.strip()).splitlines()
        if said and NOT_FOUND in said[0]:
            return "", False
        first = said[0][:200] if said else f"exit status {done.returncode}"
        raise CredentialsUnreadable(f"{program} {action} failed: {first}")
    return done.stdout, True


def helper_get(
    name: str, host: str, named_in: str, env: Mapping[str, str]
) -> tuple[str, str, bool] | None:
    """(name, secret, is_identity_token) from the helper, or None when it has nothing for the
    server. `named_in` says which file names the helper, for the error messages. The name of
    an identity token is "" (the helper does not keep it)."""
    program = f"{HELPER_PREFIX}{name}"
    said, found = _run(name, "get", host, named_in, env)
    if not found:
        return None
    try:
        answer = json.loads(said)
        username, secret = answer["Username"], answer["Secret"]
    except (ValueError, KeyError, TypeError):
        raise CredentialsUnreadable(
            f"{program} get: not the answer of a credential helper"
        ) from None
    if not isinstance(username, str) or not isinstance(secret, str):
        raise CredentialsUnreadable(f"{program} get: not the answer of a credential helper")
    if not secret:
        return None
    if username == IDENTITY_TOKEN_USERNAME:
        return "", secret, True
    return username, secret, False


def helper_store(
    name: str,
    host: str,
    credential: tuple[str, str, bool],
    named_in: str,
    env: Mapping[str, str],
) -> None:
    """Give the helper the server's credentials (name, secret, is_identity_token) as docker
    does: an identity token under the user name `<token>`."""
    username, secret, identity_token = credential
    if identity_token:
        username = IDENTITY_TOKEN_USERNAME
    given = json.dumps({"ServerURL": host, "Username": username, "Secret": secret})
    _run(name, "store", given, named_in, env)


def helper_erase(name: str, host: str, named_in: str, env: Mapping[str, str]) -> bool:
    """Have the helper forget the server's credentials; False when it had none."""
    return _run(name, "erase", host, named_in, env)[1]
