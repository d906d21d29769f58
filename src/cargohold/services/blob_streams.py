"""A stored blob as a binary stream, for the engines that read layers (scan/, analysis).

A blob on the local filesystem is opened as a file; any other store's (S3) is read through
its chunk iterator.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import IO, Any

from cargohold.oci.manifests import Manifest
from cargohold.storage.base import BlobDriver, LocalFiles


class _BlobReader(io.RawIOBase):
    """A blob read through the store's iterator, as a file object for the layer reader."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def open_blob(blobs: BlobDriver, digest: str) -> IO[bytes]:
    """The blob `digest`, front to back; FileNotFoundError when the store lacks it."""
    if blobs.stat(digest) is None:
        # Said without the server's paths or bucket: the reason reaches API clients.
        raise FileNotFoundError(f"blob {digest} is missing from the blob store")
    if isinstance(blobs, LocalFiles):
        return open(blobs.path_of(digest), "rb")
    return io.BufferedReader(_BlobReader(blobs.get(digest)), 1 << 20)


MAX_CONFIG_BYTES = 4 << 20


def read_config(blobs: BlobDriver, manifest: Manifest) -> dict[str, Any] | None:
    """An image manifest's config as a JSON object; None when it is too large to be an image
    config (over 4 MiB), missing or not a JSON object."""
    if manifest.config is None or manifest.config.size > MAX_CONFIG_BYTES:
        return None
    try:
        config = json.loads(b"".join(blobs.get(manifest.config.digest)))
    except (OSError, ValueError):
        return None
    return config if isinstance(config, dict) else None
