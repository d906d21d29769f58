"""Vulnerability database fixtures: a store engine on SQLite and on PostgreSQL, OSV records
written by the tests, and a loopback HTTP server for URL imports."""

from __future__ import annotations

import functools
import http.server
import json
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from cargohold.meta.db import make_engine
from cargohold.meta.vulndb_tables import metadata
from tests.support.postgres import PostgresServer

DATA = Path(__file__).parents[1] / "data" / "osv-import"


@pytest.fixture(scope="session")
def vulndb_postgres_url(postgres: PostgresServer) -> str:
    return postgres.create_database("cargohold_vulndb")


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database on each metadata backend."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'vulndb.sqlite'}")
    else:
        engine = make_engine(request.getfixturevalue("vulndb_postgres_url"))
        metadata.drop_all(engine)
    yield engine
    engine.dispose()


def osv(
    record_id: str,
    modified: str = "2024-01-01T00:00:00Z",
    packages: tuple[tuple[str, str], ...] = (("PyPI", "example"),),
    *,
    aliases: tuple[str, ...] = (),
    upstream: tuple[str, ...] = (),
    withdrawn: str | None = None,
    fixed: str = "2.0",
) -> dict[str, Any]:
    """An OSV record affecting `packages` (ecosystem, name) below `fixed`."""
    record: dict[str, Any] = {
        "schema_version": "1.6.0",
        "id": record_id,
        "modified": modified,
        "summary": f"test advisory {record_id}",
        "affected": [
            {
                "package": {"ecosystem": ecosystem, "name": name},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}
                ],
            }
            for ecosystem, name in packages
        ],
    }
    if aliases:
        record["aliases"] = list(aliases)
    if upstream:
        record["upstream"] = list(upstream)
    if withdrawn:
        record["withdrawn"] = withdrawn
    return record


def write_dir(root: Path, *records: dict[str, Any]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for record in records:
        (root / f"{record['id']}.json").write_text(json.dumps(record, indent=2))
    return root


def write_zip(path: Path, *records: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for record in records:
            archive.writestr(f"{record['id']}.json", json.dumps(record))
    return path


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """(directory, base URL) of a loopback HTTP server serving the directory."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
