"""Unit-test fixtures: an empty, migrated metadata store on each backend."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from cargohold.meta.db import make_engine, migrate
from cargohold.meta.store import MetadataStore
from tests.support.postgres import PostgresServer

_databases = itertools.count()


@pytest.fixture(params=["sqlite", "postgres"])
def meta(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MetadataStore]:
    """A migrated metadata store of the test's own, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'meta.db'}"
    else:
        pg: PostgresServer = request.getfixturevalue("postgres")
        url = pg.create_database(f"unit_{next(_databases)}")
    engine = make_engine(url)
    migrate(engine)
    yield MetadataStore(engine)
    engine.dispose()
