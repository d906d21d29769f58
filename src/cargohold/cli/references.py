"""Image references on the command line: REPOSITORY:TAG or REPOSITORY@DIGEST, checked here so
a typo is a one-line error before anything reaches the server."""

from __future__ import annotations

from dataclasses import dataclass

from cargohold.oci.digests import is_valid_digest
from cargohold.oci.names import TAG_RE, is_valid_name
from cargohold.oci.references import (
    ReferenceError,
    RegistryReference,
    parse_registry_reference,
)

__all__ = [
    "ImageRef",
    "ReferenceError",
    "RegistryReference",
    "is_loopback",
    "parse_image",
    "parse_registry_reference",
    "registry_base",
]


@dataclass(frozen=True)
class ImageRef:
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def reference(self) -> str:
        """What /v2/<name>/manifests/<reference> takes: the digest, else the tag."""
        return self.digest or self.tag or ""

    def __str__(self) -> str:
        if self.digest:
            return f"{self.repository}@{self.digest}"
        return f"{self.repository}:{self.tag}"


def parse_image(text: str) -> ImageRef:
    """REPOSITORY:TAG or REPOSITORY@DIGEST; no default tag (these commands change things)."""
    name, at, digest = text.partition("@")
    if at:
        if not is_valid_digest(digest):
            raise ReferenceError(f"{text}: {digest!r} is not a digest (sha256:<64 hex>)")
        image = ImageRef(name, digest=digest)
    else:
        slash, colon = name.rfind("/"), name.rfind(":")
        if colon <= slash:
            raise ReferenceError(f"{text}: give REPOSITORY:TAG or REPOSITORY@DIGEST")
        name, tag = name[:colon], name[colon + 1 :]
        if not TAG_RE.fullmatch(tag):
            raise ReferenceError(f"{text}: {tag!r} is not a tag")
        image = ImageRef(name, tag=tag)
    if not is_valid_name(image.repository):
        raise ReferenceError(f"{text}: {image.repository!r} is not a repository name")
    return image


# Hosts spoken to in plain HTTP, as docker does for loopback registries.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")


def is_loopback(host: str) -> bool:
    """Whether HOST[:PORT] is this machine (`127.0.0.1:5000`, `localhost`, `[::1]:5000`)."""
    name = host.rsplit(":", 1)[0] if not host.endswith("]") and host.count(":") == 1 else host
    if name.startswith("["):
        name = name[: name.index("]") + 1] if "]" in name else name
    return name in LOOPBACK_HOSTS


def registry_base(host: str, plain_http: bool = False) -> str:
    """The URL of a registry named HOST[:PORT]: plain HTTP for loopback (or when asked),
    HTTPS otherwise."""
    return f"{'http' if plain_http or is_loopback(host) else 'https'}://{host}"
