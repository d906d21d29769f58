"""`cargohold migrate-metadata` refusing what it must, in one line: an unreachable destination,
a source at another schema revision, no database, a URL it does not take, the same database;
a row PostgreSQL will not take fails the whole copy and leaves the destination empty. (The
full move, run twice, is tests/api/test_single_node_migration.py.)"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from cargohold.meta.db import make_engine, migrate
from cargohold.meta.transfer import head_revision
from tests.support.ports import free_port
from tests.support.postgres import PostgresServer
from tests.support.server import CARGOHOLD, CargoholdServer

_databases = itertools.count()


def run(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARGOHOLD_")}
    return subprocess.run(
        [CARGOHOLD, "migrate-metadata", "--data-dir", str(data_dir), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def source(data_dir: Path, revision: str = "head") -> sa.Engine:
    """A data directory with a cargohold database migrated to `revision`."""
    data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(f"sqlite:///{data_dir / 'cargohold.db'}")
    if revision == "head":
        migrate(engine)
    else:
        config = Config(str(Path(migrate.__code__.co_filename).with_name("alembic.ini")))
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
    return engine


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done.stdout
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith("error: ")
    return done.stderr.strip()


@pytest.fixture
def destination(postgres: PostgresServer) -> str:
    return postgres.create_database(f"transfer_{next(_databases)}")


def test_an_unreachable_destination(tmp_path: Path) -> None:
    source(tmp_path / "data").dispose()
    port = free_port()
    done = run(tmp_path / "data", "--to", f"postgresql://cargohold:s3cret@127.0.0.1:{port}/meta")
    message = one_line_error(done)
    assert message.startswith(
        f"error: cannot reach the destination database postgresql://cargohold:***@127.0.0.1:{port}"
        "/meta: "
    )
    assert "s3cret" not in done.stderr


def test_a_source_at_another_revision_is_refused_before_the_destination_changes(
    tmp_path: Path, destination: str
) -> None:
    source(tmp_path / "data", "0013").dispose()
    message = one_line_error(run(tmp_path / "data", "--to", destination))
    assert message == (
        f"error: the source's schema is at revision 0013, this cargohold's at {head_revision()}: "
        "start this release's `cargohold serve` on it once (it migrates the schema at start), "
        "or run the release that matches it"
    )
    engine = make_engine(destination)
    try:
        assert sa.inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("to", "expected"),
    [
        ("mysql://root@127.0.0.1/x", "error: --to must be a postgresql:// or sqlite:/// URL"),
        ("SAME", "error: --to names the database the settings already use: nothing to copy"),
    ],
    ids=["another kind", "the same database"],
)
def test_urls_it_does_not_take(tmp_path: Path, to: str, expected: str) -> None:
    source(tmp_path / "data").dispose()
    if to == "SAME":
        to = f"sqlite:///{tmp_path / 'data' / '.' / 'cargohold.db'}"
    assert one_line_error(run(tmp_path / "data", "--to", to)).startswith(expected)


def test_a_data_directory_without_a_database(tmp_path: Path, destination: str) -> None:
    message = one_line_error(run(tmp_path / "nothing", "--to", destination))
    assert message == f"error: no cargohold database in {tmp_path / 'nothing'}"


def test_a_row_the_destination_refuses_fails_the_whole_copy(
    tmp_path: Path, destination: str
) -> None:
    """SQLite keeps a string longer than its column's length; PostgreSQL does not. The
    copy stops there, naming the table, and the destination keeps none of the rows."""
    engine = source(tmp_path / "data")
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO repositories (name, created_at, tags_version) VALUES ('a/b', 1, 0)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO holds (scope, target, reason, created_at, created_by)"
                " VALUES ('project', :target, 'r', 1, 'x')"
            ),
            {"target": "p" * 300},
        )
    engine.dispose()
    message = one_line_error(run(tmp_path / "data", "--to", destination))
    assert message.startswith("error: cannot copy table holds: value too long for type ")
    assert message.endswith("; nothing was committed")
    target = make_engine(destination)
    try:
        with target.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM repositories")).scalar() == 0
    finally:
        target.dispose()


def test_into_another_sqlite_file(tmp_path: Path) -> None:
    """SQLite to SQLite (to compact, or to move the file) takes the same path."""
    engine = source(tmp_path / "data")
    with engine.begin() as conn:
        for n in range(2500):  # more than two batches
            conn.execute(
                sa.text(
                    "INSERT INTO audit_events (at, actor, action, target, detail)"
                    " VALUES (:at, 'x', 'test', :n, '{}')"
                ),
                {"at": time.time(), "n": str(n)},
            )
    engine.dispose()
    copy = tmp_path / "copy.db"
    done = run(tmp_path / "data", "--to", f"sqlite:///{copy}", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["tables"]["audit_events"] == 2500 and report["rows"] == 2500
    assert report["revision"] == head_revision()


def test_a_server_still_running_on_the_source_is_refused(tmp_path: Path, destination: str) -> None:
    server = CargoholdServer(tmp_path / "data").start()
    try:
        message = one_line_error(run(tmp_path / "data", "--to", destination))
    finally:
        server.stop()
    assert message == (
        f"error: a cargohold server still serves {tmp_path / 'data'}: stop it first (the copy "
        "is one snapshot: what the server wrote after it would be lost)"
    )
    done = run(tmp_path / "data", "--to", destination, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["tables"]["users"] == 1
