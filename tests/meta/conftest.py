"""Metadata-module fixtures: an empty, migrated Database on SQLite and on PostgreSQL."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from cargohold.meta.database import Database
from cargohold.meta.db import make_engine, migrate
from tests.support.postgres import PostgresServer

_databases = itertools.count()


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated metadata database of the test's own, on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'meta.db'}"
    else:
        pg: PostgresServer = request.getfixturevalue("postgres")
        url = pg.create_database(f"meta_{next(_databases)}")
    engine = make_engine(url)
    migrate(engine)
    yield Database(engine)
    engine.dispose()
