"""Detect the distribution from /etc/os-release, /etc/alpine-release or /etc/debian_version."""

from __future__ import annotations

import shlex
from collections.abc import Callable

from cargohold.scan.model import OSInfo

OS_RELEASE_PATHS = ("etc/os-release", "usr/lib/os-release")
ALPINE_RELEASE = "etc/alpine-release"
DEBIAN_VERSION = "etc/debian_version"
PATHS = frozenset({*OS_RELEASE_PATHS, ALPINE_RELEASE, DEBIAN_VERSION})


def wants(path: str) -> bool:
    return path in PATHS


def parse_os_release(text: str) -> dict[str, str]:
    """KEY=value lines with shell quoting, as os-release(5) specifies."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        try:
            words = shlex.split(value)
        except ValueError:
            words = [value.strip("\"'")]
        fields[key.strip()] = " ".join(words)
    return fields


def detect_os(read: Callable[[str], bytes | None]) -> OSInfo | None:
    """`read(path)` returns a file's content in the image, or None when absent."""
    for path in OS_RELEASE_PATHS:
        data = read(path)
        if data is None:
            continue
        fields = parse_os_release(data.decode("utf-8", "replace"))
        if fields.get("ID"):
            return OSInfo(
                id=fields["ID"].lower(),
                version_id=fields.get("VERSION_ID") or None,
                name=fields.get("NAME") or None,
                pretty_name=fields.get("PRETTY_NAME") or None,
                version_codename=fields.get("VERSION_CODENAME") or None,
                id_like=tuple(fields.get("ID_LIKE", "").split()),
            )
    alpine = read(ALPINE_RELEASE)
    if alpine is not None:
        return OSInfo(id="alpine", version_id=alpine.decode("ascii", "replace").strip() or None)
    debian = read(DEBIAN_VERSION)
    if debian is not None:
        version = debian.decode("ascii", "replace").strip()
        # Testing and unstable write a codename such as "trixie/sid" instead of a number.
        if version[:1].isdigit():
            return OSInfo(id="debian", version_id=version.split(".")[0])
        return OSInfo(id="debian", version_codename=version.split("/")[0] or None)
    return None
