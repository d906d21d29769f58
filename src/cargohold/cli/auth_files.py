"""Containers auth files and docker config files: the entries the CLI reads and writes.

One format serves both (containers-auth.json(5), docker's config.json):

    {"auths": {"HOST[:PORT]": {"auth": "<base64 of name:secret>", "identitytoken": "..."}},
     "credHelpers": {"HOST[:PORT]": "<helper>"}, "credsStore": "<helper>"}

An entry with an `identitytoken` holds a refresh token instead of a password (its `auth` is
`name:`, as docker writes it). Keys are a host and port; docker and older tools also write
them with a scheme or a `/v1/` path, which are ignored when matching. podman also keys an
entry by a namespace or repository (`HOST[:PORT]/team`, `HOST[:PORT]/team/app`): for a
repository, the longest such key that is the repository or one of its namespaces wins over
the server's own entry (containers-auth.json(5)).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


class CredentialsUnreadable(ValueError):
    """An auth file or helper that cannot be read; the message names the file or helper,
    never a secret."""


def server_host(server: str) -> str:
    """The `HOST[:PORT]` an auth file keys a server by, from a URL or a bare `HOST[:PORT]`."""
    if "://" not in server:
        server = f"http://{server}"
    return urlsplit(server).netloc


def entry_host(key: str) -> str | None:
    """The `HOST[:PORT]` an auth file key stands for: `https://h:1/v1/` and `h:1` are the same
    server. None for a key that names a namespace or repository (`h:1/team`), which podman
    uses for credentials of that part of the registry only."""
    if "://" in key:
        key = key.split("://", 1)[1]
    host, _, path = key.partition("/")
    if path.strip("/") not in ("", "v1", "v2"):
        return None
    return host


def read_document(path: Path) -> dict[str, Any] | None:
    """The file's JSON object, or None when there is no file."""
    try:
        with open(path, encoding="utf-8") as file:
            document = json.load(file)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise CredentialsUnreadable(
            f"{path}: not a readable auth file ({type(exc).__name__})"
        ) from None
    if not isinstance(document, dict):
        raise CredentialsUnreadable(f"{path}: not a readable auth file (not a JSON object)")
    return document


def _section(document: dict[str, Any], name: str) -> dict[str, Any]:
    section = document.get(name)
    return section if isinstance(section, dict) else {}


def keys_for(document: dict[str, Any], section: str, host: str) -> list[str]:
    """The keys of `section` that stand for the server `host`, the exact key first."""
    keys = [key for key in _section(document, section) if entry_host(key) == host]
    return sorted(keys, key=lambda key: key != host)


def helper_for(document: dict[str, Any], host: str) -> str | None:
    """The credential helper the file names for the server: its `credHelpers` entry, else its
    `credsStore`."""
    helpers = _section(document, "credHelpers")
    for key in keys_for(document, "credHelpers", host):
        if isinstance(helpers[key], str) and helpers[key]:
            return str(helpers[key])
    store = document.get("credsStore")
    return store if isinstance(store, str) and store else None


def repository_keys(host: str, repository: str | None) -> list[str]:
    """The keys that name the repository on the server or one of its namespaces, longest
    first: `h/team/app`, `h/team` for `team/app` (none without a repository)."""
    parts = repository.strip("/").split("/") if repository else []
    return [f"{host}/{'/'.join(parts[:n])}" for n in range(len(parts), 0, -1)]


def auth_entry(
    document: dict[str, Any], host: str, path: Path, repository: str | None = None
) -> tuple[str, str, bool] | None:
    """(name, secret, is_identity_token) from the file's `auths` entry for the repository on
    the server (its own key or its longest namespace's, as podman matches them), else the
    server's entry; None when it has none (or only an empty placeholder, as docker writes
    next to a `credsStore`)."""
    auths = _section(document, "auths")
    namespaced = [key for key in repository_keys(host, repository) if key in auths]
    for key in [*namespaced, *keys_for(document, "auths", host)]:
        entry = auths[key]
        if not isinstance(entry, dict):
            continue
        found = _decode(entry, f"{path}: the entry for {key}")
        if found is not None:
            return found
    return None


def _decode(entry: dict[str, Any], where: str) -> tuple[str, str, bool] | None:
    encoded = entry.get("auth") or ""
    token = entry.get("identitytoken") or ""
    if not isinstance(encoded, str) or not isinstance(token, str):
        raise CredentialsUnreadable(f"{where} is not a string")
    name, secret = "", ""
    if encoded:
        try:
            decoded = base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise CredentialsUnreadable(f"{where} is not base64 of name:secret") from None
        name, colon, secret = decoded.partition(":")
        if not colon or not name:
            raise CredentialsUnreadable(f"{where} is not base64 of name:secret")
    if token:
        return name, token, True
    if not encoded:
        return None
    return name, secret.strip("\x00"), False


def encode_entry(name: str, secret: str, identity_token: bool) -> dict[str, str]:
    """An `auths` entry as docker writes it: a refresh token goes in `identitytoken`, with
    `auth` holding only the name."""
    if identity_token:
        return {"auth": base64.b64encode(f"{name}:".encode()).decode(), "identitytoken": secret}
    return {"auth": base64.b64encode(f"{name}:{secret}".encode()).decode()}


def store_entry(path: Path, host: str, entry: dict[str, str]) -> None:
    """Put the server's entry in the file, replacing any other key for the same server and
    keeping everything else in it."""
    document = read_document(path) or {}
    auths = _section(document, "auths")
    for key in keys_for(document, "auths", host):
        del auths[key]
    auths[host] = entry
    document["auths"] = auths
    _write(path, document)


def remove_entry(path: Path, host: str) -> dict[str, Any] | None:
    """Remove the server's entries from the file; the last one removed, or None when it had
    none (the file is then left as it was)."""
    document = read_document(path)
    if document is None:
        return None
    auths = _section(document, "auths")
    keys = keys_for(document, "auths", host)
    if not keys:
        return None
    removed = auths[keys[0]]
    for key in keys:
        del auths[key]
    _write(path, document)
    return removed if isinstance(removed, dict) else {}


def _write(path: Path, document: dict[str, Any]) -> None:
    """Replace the file at once (a reader sees the old file or the new one, never half of
    one), readable by its owner only; its directory is made if missing (mode 0700)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump(document, file, indent="\t")
            file.write("\n")
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
