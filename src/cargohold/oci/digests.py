"""Digest parsing and hashing (sha256 and sha512)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Protocol

from cargohold.errors import DigestInvalid

_HEX_LENGTH = {"sha256": 64, "sha512": 128}
_DIGEST_RE = re.compile(r"(sha256|sha512):([a-f0-9]+)")
# Anything shaped like a digest, so a reference can be told apart from a tag.
DIGEST_SHAPE_RE = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")

EMPTY_JSON = b"{}"
EMPTY_JSON_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
EMPTY_BLOB_DIGEST = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


class Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def hexdigest(self) -> str: ...
    def copy(self) -> Hasher: ...


def is_valid_digest(digest: str) -> bool:
    match = _DIGEST_RE.fullmatch(digest)
    return match is not None and len(match.group(2)) == _HEX_LENGTH[match.group(1)]


def looks_like_digest(reference: str) -> bool:
    return ":" in reference and DIGEST_SHAPE_RE.fullmatch(reference) is not None


def check_digest(digest: str) -> str:
    if not is_valid_digest(digest):
        raise DigestInvalid(
            f"invalid or unsupported digest: {digest[:200]!r} (sha256 and sha512 are supported)",
            detail={"digest": digest[:200]},
        )
    return digest


def algorithm_of(digest: str) -> str:
    return digest.split(":", 1)[0]


def new_hasher(algorithm: str = "sha256") -> Hasher:
    return hashlib.new(algorithm)


def compute(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def hashes_to(digest: str, chunks: Iterable[bytes]) -> bool:
    """Whether the bytes, chunk by chunk, hash to `digest` (by its own algorithm)."""
    algorithm = algorithm_of(digest)
    hasher = new_hasher(algorithm)
    for chunk in chunks:
        hasher.update(chunk)
    return f"{algorithm}:{hasher.hexdigest()}" == digest
