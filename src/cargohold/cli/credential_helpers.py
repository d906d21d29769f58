"""Docker credential helpers: `docker-credential-<name> get`, as docker runs them.

The helper reads the server (`HOST[:PORT]`) on standard input and prints
`{"ServerURL": ..., "Username": ..., "Secret": ...}`; a `Username` of `<token>` means the
secret is an identity token (a refresh token) rather than a password. A helper that knows
no credentials for the server says `credentials not found in native keychain` and fails.
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


def helper_get(
    name: str, host: str, named_in: str, env: Mapping[str, str]
) -> tuple[str, str, bool] | None:
    """(name, secret, is_identity_token) from the helper, or None when it has nothing for the
    server. `named_in` says which file names the helper, for the error messages."""
    program = f"{HELPER_PREFIX}{name}"
    found = shutil.which(program, path=env.get("PATH"))
    if found is None:
        raise CredentialsUnreadable(f"{program} not found on PATH (named in {named_in})")
    try:
        done = subprocess.run(
            [found, "get"],
            input=host,
            capture_output=True,
            text=True,
            timeout=HELPER_TIMEOUT_SECONDS,
            check=False,
            env=dict(env),
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CredentialsUnreadable(f"{program} get failed: {type(exc).__name__}") from None
    if done.returncode != 0:
        said = (done.stdout.strip() or done.stderr.strip()).splitlines()
        if said and NOT_FOUND in said[0]:
            return None
        first = said[0][:200] if said else f"exit status {done.returncode}"
        raise CredentialsUnreadable(f"{program} get failed: {first}")
    try:
        answer = json.loads(done.stdout)
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
