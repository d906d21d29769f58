"""Fixtures of the storage tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from cargohold.meta.db import make_engine, migrate
from cargohold.meta.store import MetadataStore


@pytest.fixture
def locations(tmp_path: Path) -> MetadataStore:
    """A metadata store of its own (SQLite) for the blob locations of a test's driver."""
    engine = make_engine(f"sqlite:///{tmp_path / 'locations.db'}")
    migrate(engine)
    return MetadataStore(engine)
