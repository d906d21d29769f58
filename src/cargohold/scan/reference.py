"""Image references for local images, named as skopeo names them.

``oci:PATH[:TAG]``, ``oci-archive:PATH[:TAG]`` and ``docker-archive:PATH[:NAME:TAG]``.
As in containers/image, PATH ends at the first colon after the transport.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cargohold.scan.errors import BadReferenceError

TRANSPORTS = ("oci", "oci-archive", "docker-archive")


@dataclass(frozen=True)
class ImageReference:
    transport: str
    path: Path
    tag: str | None = None

    def __str__(self) -> str:
        return f"{self.transport}:{self.path}" + (f":{self.tag}" if self.tag else "")


def parse_reference(source: str) -> ImageReference:
    transport, sep, rest = source.partition(":")
    if not sep or transport not in TRANSPORTS:
        raise BadReferenceError(
            f"unsupported image reference {source!r}: expected oci:PATH[:TAG], "
            "oci-archive:PATH[:TAG] or docker-archive:PATH[:NAME:TAG]"
        )
    path, _, tag = rest.partition(":")
    if not path:
        raise BadReferenceError(f"image reference {source!r} names no path")
    return ImageReference(transport, Path(path), tag or None)
