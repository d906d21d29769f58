"""Counting an S3 driver's requests to the store, by client method."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from cargohold.storage.s3 import S3BlobStore


class Calls:
    """Counts the calls of some of a store client's requests (the requests still go)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, store: S3BlobStore, *names: str) -> None:
        self.counts = dict.fromkeys(names, 0)
        for name in names:
            monkeypatch.setattr(
                store.client, name, self._counting(name, getattr(store.client, name))
            )

    def _counting(self, name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def call(**request: Any) -> Any:
            self.counts[name] += 1
            return real(**request)

        return call

    def __getitem__(self, name: str) -> int:
        return self.counts[name]
