"""Image references as docker and Kubernetes write them: `[HOST[:PORT]/]REPOSITORY[:TAG]
[@DIGEST]`. One parser for the CLI (`sign`, `verify`, `scan` of a registry's image) and the
admission webhook (a container's `image`)."""

from __future__ import annotations

from dataclasses import dataclass

from cargohold.oci.digests import is_valid_digest
from cargohold.oci.names import TAG_RE, is_valid_name


class ReferenceError(ValueError):
    """TEXT is not an image reference; the message says why."""


@dataclass(frozen=True)
class RegistryReference:
    """An image as docker names it: `[HOST[:PORT]/]REPOSITORY[:TAG|@DIGEST]`."""

    host: str | None  # HOST[:PORT] when the first component names a registry, else None
    repository: str
    reference: str  # the digest when one is given, else the tag (`latest` when none is)
    # The tag written beside a digest (`app:1.4@sha256:...`): the digest is what counts.
    tag: str | None = None

    @property
    def is_digest(self) -> bool:
        return is_valid_digest(self.reference)


def parse_registry_reference(text: str) -> RegistryReference:
    """`[HOST[:PORT]/]REPOSITORY[:TAG][@DIGEST]`, split as docker does: the first component is
    a registry host when it has a `.` or a `:`, or is `localhost`; the tag defaults to
    `latest`; a digest wins over a tag given with it. The repository, tag and digest are
    checked (ReferenceError, one line)."""
    name, at, digest = text.partition("@")
    slash, colon = name.rfind("/"), name.rfind(":")
    name, tag = (name[:colon], name[colon + 1 :]) if colon > slash else (name, None)
    first, sep, rest = name.partition("/")
    host = first if sep and ("." in first or ":" in first or first == "localhost") else None
    repository = rest if host else name
    if not is_valid_name(repository):
        raise ReferenceError(f"{text}: {repository!r} is not a repository name")
    if at and not is_valid_digest(digest):
        raise ReferenceError(f"{text}: {digest!r} is not a digest (sha256:<64 hex>)")
    if tag is not None and not TAG_RE.fullmatch(tag):
        raise ReferenceError(f"{text}: {tag!r} is not a tag")
    if at:
        return RegistryReference(host, repository, digest, tag)
    return RegistryReference(host, repository, tag or "latest")
