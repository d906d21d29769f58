"""Base image names as docker reads them, and the approved-bases patterns matched against them."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

DOCKER_HUB = "docker.io"


@dataclass(frozen=True)
class BaseImage:
    """`FROM` text split: the tag and digest are None when not written (docker then pulls
    `latest`). `name` is the full name, `docker.io/library/` added as docker adds it."""

    name: str
    tag: str | None
    digest: str | None

    @property
    def short_name(self) -> str:
        """The name as people write it: `node`, `gcr.io/distroless/static`."""
        return self.name.removeprefix(f"{DOCKER_HUB}/").removeprefix("library/")

    @property
    def repository(self) -> str:
        """The last path component: `node`, `static`."""
        return self.name.rsplit("/", 1)[-1]


def split_image(text: str) -> BaseImage:
    name, _, digest = text.partition("@")
    slash, colon = name.rfind("/"), name.rfind(":")
    tag = None
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
    first, sep, rest = name.partition("/")
    if not (sep and ("." in first or ":" in first or first == "localhost")):
        name = f"{DOCKER_HUB}/{name if sep else 'library/' + name}"
    elif first in ("index.docker.io", "registry-1.docker.io"):
        name = f"{DOCKER_HUB}/{rest}"
    return BaseImage(name.lower(), tag, digest or None)


def matches(image: BaseImage, pattern: str) -> bool:
    """Whether `pattern` (`node:20-alpine`, `python:3.12-*`, `gcr.io/distroless/*`, a name
    without tag for any tag) approves `image`. The digest is not compared."""
    wanted = split_image(pattern.split("@", 1)[0])
    if not fnmatch.fnmatchcase(image.name, wanted.name):
        return False
    return wanted.tag is None or fnmatch.fnmatchcase(image.tag or "latest", wanted.tag)
