"""The credentials the CLI sends: read from a containers auth file, as podman and skopeo
keep them (`{"auths": {"HOST[:PORT]": {"auth": base64("name:secret")}}}`).

Read from `$REGISTRY_AUTH_FILE` only, so far; without an entry for the server the CLI asks
anonymously, and the server answers 401 for what needs credentials.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping
from urllib.parse import urlsplit

AUTH_FILE_ENV = "REGISTRY_AUTH_FILE"


class CredentialsUnreadable(ValueError):
    """An auth file that exists but cannot be read; the message names the file, never a
    secret."""


def registry_credentials(
    registry_url: str, env: Mapping[str, str] | None = None
) -> tuple[str, str] | None:
    """(name, secret) for the server at `registry_url`, or None when no file has an entry."""
    env = os.environ if env is None else env
    path = env.get(AUTH_FILE_ENV)
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as file:
            document = json.load(file)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise CredentialsUnreadable(
            f"{path}: not a readable auth file ({type(exc).__name__})"
        ) from None
    host = urlsplit(registry_url).netloc
    auths = document.get("auths") if isinstance(document, dict) else None
    entry = auths.get(host) if isinstance(auths, dict) else None
    encoded = entry.get("auth") if isinstance(entry, dict) else None
    if not isinstance(encoded, str):
        return None
    unreadable = CredentialsUnreadable(f"{path}: the entry for {host} is not base64 of name:secret")
    try:
        name, colon, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise unreadable from None
    if not colon or not name:
        raise unreadable
    return name, secret
