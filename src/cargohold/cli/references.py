"""Image references on the command line: REPOSITORY:TAG or REPOSITORY@DIGEST, checked here so
a typo is a one-line error before anything reaches the server."""

from __future__ import annotations

from dataclasses import dataclass

from cargohold.oci.digests import is_valid_digest
from cargohold.oci.names import TAG_RE, is_valid_name


class ReferenceError(ValueError):
    """TEXT is not REPOSITORY:TAG or REPOSITORY@DIGEST; the message says why."""


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


@dataclass(frozen=True)
class RegistryReference:
    """An image as docker names it: `[HOST[:PORT]/]REPOSITORY[:TAG|@DIGEST]`."""

    host: str | None  # HOST[:PORT] when the first component names a registry, else None
    repository: str
    reference: str  # the tag (`latest` when none is given) or the digest

    @property
    def is_digest(self) -> bool:
        return is_valid_digest(self.reference)


def parse_registry_reference(text: str) -> RegistryReference:
    """`[HOST[:PORT]/]REPOSITORY[:TAG|@DIGEST]`, split as docker does: the first component is
    a registry host when it has a `.` or a `:`, or is `localhost`; the tag defaults to
    `latest`. The repository, tag and digest are checked (ReferenceError, one line)."""
    name, at, reference = text.partition("@")
    if not at:
        slash, colon = name.rfind("/"), name.rfind(":")
        name, reference = (name[:colon], name[colon + 1 :]) if colon > slash else (name, "latest")
    first, sep, rest = name.partition("/")
    host = first if sep and ("." in first or ":" in first or first == "localhost") else None
    repository = rest if host else name
    if not is_valid_name(repository):
        raise ReferenceError(f"{text}: {repository!r} is not a repository name")
    if at and not is_valid_digest(reference):
        raise ReferenceError(f"{text}: {reference!r} is not a digest (sha256:<64 hex>)")
    if not at and not TAG_RE.fullmatch(reference):
        raise ReferenceError(f"{text}: {reference!r} is not a tag")
    return RegistryReference(host, repository, reference)


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
