"""`cargohold vulndb import` and `cargohold vulndb status` on a local database."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from cargohold.cli.main import app
from tests.vulndb.conftest import DATA, osv, write_dir, write_zip


@pytest.fixture
def db_dir(tmp_path: Path) -> Path:
    return tmp_path / "db"


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200", **(env or {})})


def status(db_dir: Path) -> dict:
    result = run("vulndb", "status", "--db-dir", str(db_dir), "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_import_a_directory_and_show_status(db_dir: Path) -> None:
    result = run("vulndb", "import", str(DATA), "--db-dir", str(db_dir), "--name", "testdata")
    assert result.exit_code == 0, result.output
    assert "as source 'testdata'" in result.stdout
    assert " 4 " in result.stdout  # added
    # Invalid records are reported with the file they came from, and do not fail the run.
    assert "warning: invalid record: broken/no-modified.json: OSV record BROKEN-1" in (
        result.stderr
    )
    assert "warning: invalid record: broken/truncated.json: not JSON" in result.stderr

    document = status(db_dir)
    assert document["records"] == 4
    assert document["ecosystems"] == {"Debian:12": 2, "PyPI": 1}
    assert document["path"] == str(db_dir / "vulndb.sqlite")
    [source] = document["sources"]
    assert (source["name"], source["location"], source["records"]) == (
        "testdata",
        str(DATA.resolve()),
        4,
    )

    human = run("vulndb", "status", "--db-dir", str(db_dir))
    assert human.exit_code == 0, human.output
    assert f"version {document['version']}, 4 records" in human.stdout
    assert "testdata" in human.stdout
    assert "Debian:12" in human.stdout


def test_import_json_output_and_incremental_reimport(db_dir: Path, tmp_path: Path) -> None:
    export = write_zip(
        tmp_path / "npm" / "all.zip",
        osv("GHSA-1", "2024-01-01T00:00:00Z", (("npm", "a"),)),
        osv("GHSA-2", "2024-01-01T00:00:00Z", (("npm", "b"),)),
    )
    first = run("vulndb", "import", str(export), "--db-dir", str(db_dir), "--json")
    assert first.exit_code == 0, first.output
    document = json.loads(first.stdout)
    assert (document["added"], document["full"], document["packagesTouched"]) == (2, True, 2)

    write_zip(
        export,
        osv("GHSA-1", "2023-01-01T00:00:00Z", (("npm", "a"),)),  # older: ignored
        osv("GHSA-2", "2024-06-01T00:00:00Z", (("npm", "b"),)),  # newer: replaces
        osv("GHSA-3", "2024-06-01T00:00:00Z", (("npm", "c"),), withdrawn="2024-06-01T00:00:00Z"),
    )
    second = json.loads(
        run("vulndb", "import", str(export), "--db-dir", str(db_dir), "--json").stdout
    )
    assert {k: second[k] for k in ("added", "updated", "unchanged", "withdrawn", "removed")} == {
        "added": 0,
        "updated": 1,
        "unchanged": 1,
        "withdrawn": 1,
        "removed": 0,
    }
    assert second["version"] != document["version"]
    assert status(db_dir)["version"] == second["version"]


def test_import_a_url(db_dir: Path, http_root: tuple[Path, str]) -> None:
    root, base = http_root
    write_zip(root / "Go" / "all.zip", osv("GO-2024-1", packages=(("Go", "example.com/m"),)))
    result = run("vulndb", "import", f"{base}/Go/all.zip", "--db-dir", str(db_dir))
    assert result.exit_code == 0, result.output
    assert status(db_dir)["ecosystems"] == {"Go": 1}


def test_default_db_dir_is_the_user_cache(tmp_path: Path) -> None:
    source = write_dir(tmp_path / "advisories", osv("R-1"))
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    assert run("vulndb", "import", str(source), env=env).exit_code == 0
    assert (tmp_path / "cache" / "cargohold" / "vulndb.sqlite").is_file()
    shown = run("vulndb", "status", "--json", env=env)
    assert json.loads(shown.stdout)["records"] == 1


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{tmp}/missing", "no such file or directory"),
        ("{tmp}/notes.txt", "neither a zip archive nor a JSON file"),
        ("ftp://example.test/all.zip", "only http(s) URLs and paths"),
    ],
)
def test_bad_sources_fail_with_one_line(
    db_dir: Path, tmp_path: Path, source: str, expected: str
) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    result = run("vulndb", "import", source.format(tmp=tmp_path), "--db-dir", str(db_dir))
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_status_without_a_database(db_dir: Path) -> None:
    result = run("vulndb", "status", "--db-dir", str(db_dir))
    assert result.exit_code == 1
    assert "no vulnerability database in" in result.stderr
    assert "cargohold vulndb import SOURCE" in result.stderr
    assert not db_dir.exists()


def test_a_file_that_is_not_a_database(db_dir: Path) -> None:
    db_dir.mkdir()
    (db_dir / "vulndb.sqlite").write_bytes(b"this is not sqlite" * 100)
    result = run("vulndb", "status", "--db-dir", str(db_dir))
    assert result.exit_code == 1
    assert result.stderr.startswith("error: database error in")
    assert len(result.stderr.strip().splitlines()) == 1


def test_import_refuses_to_empty_a_source_without_allow_empty(db_dir: Path, tmp_path: Path) -> None:
    export = write_zip(tmp_path / "all.zip", osv("GO-1"))
    assert run("vulndb", "import", str(export), "--db-dir", str(db_dir)).exit_code == 0
    with zipfile.ZipFile(export, "w"):
        pass
    refused = run("vulndb", "import", str(export), "--db-dir", str(db_dir))
    assert refused.exit_code == 1
    [line] = refused.stderr.strip().splitlines()
    assert line.startswith("error: ") and "holds none of the 1 records" in line
    assert "--allow-empty" in line
    assert status(db_dir)["records"] == 1
    done = run("vulndb", "import", str(export), "--db-dir", str(db_dir), "--allow-empty")
    assert done.exit_code == 0, done.output
    assert status(db_dir)["records"] == 0


def test_import_refuses_a_zip_bomb_in_one_line(db_dir: Path, tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.zip"
    with (
        zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("BOMB-1.json", "w", force_zip64=True) as member,
    ):
        for _ in range(64):
            member.write(b"0" * (1 << 20))
    result = run("vulndb", "import", str(bomb), "--db-dir", str(db_dir))
    assert result.exit_code == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "is larger than 33,554,432 bytes uncompressed" in line
