"""What the S3 driver needs of the metadata store to keep chunked uploads where their parts
went (located.py, decision 055); meta/blob_locations.py provides it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol


class BlobLocations(Protocol):
    """Digest -> object key for blobs stored away from their digest's key (in the metadata
    store: meta/blob_locations.py)."""

    def key_of(self, digest: str) -> str | None: ...

    def keys_of(self, digests: list[str]) -> dict[str, str]: ...

    def record(self, digest: str, key: str, instead_of: str | None = None) -> str | None:
        """Point `digest` at `key` unless a row points it elsewhere than at `instead_of`:
        None when it points at `key` now, else the key it points at."""
        ...

    def forget(self, pairs: list[tuple[str, str]]) -> None: ...

    def referenced(self, keys: list[str]) -> set[str]: ...

    def all(self) -> Iterator[tuple[str, str]]: ...
