"""Repository name and tag grammar from the OCI distribution spec."""

from __future__ import annotations

import re

from cargohold.errors import NameInvalid, TagInvalid

# distribution-spec: <name> path components.
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
NAME_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
COMPONENT_RE = re.compile(_COMPONENT)
TAG_RE = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")
# distribution caps the full name at 255 characters.
MAX_NAME_LENGTH = 255


def is_valid_name(name: str) -> bool:
    return len(name) <= MAX_NAME_LENGTH and NAME_RE.fullmatch(name) is not None


def is_valid_project_name(name: str) -> bool:
    """A project is the first path component of its repositories' names."""
    return len(name) <= MAX_NAME_LENGTH and COMPONENT_RE.fullmatch(name) is not None


def check_name(name: str) -> str:
    if not is_valid_name(name):
        raise NameInvalid(f"invalid repository name: {name[:300]!r}", detail={"name": name[:300]})
    return name


def is_valid_tag(tag: str) -> bool:
    return TAG_RE.fullmatch(tag) is not None


def check_tag(tag: str) -> str:
    if not is_valid_tag(tag):
        raise TagInvalid(f"invalid tag: {tag[:200]!r}", detail={"tag": tag[:200]})
    return tag


def project_of(name: str) -> str:
    """The project is the first path component; a one-component name is its own project."""
    return name.split("/", 1)[0]
