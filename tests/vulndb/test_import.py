"""Importing OSV sources: directories, zips, JSON files and URLs; incremental updates,
withdrawn and vanished records, invalid records and unreadable sources."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from cargohold.meta.db import make_engine
from cargohold.meta.vulndb import VulnStore
from cargohold.meta.vulndb_tables import metadata
from cargohold.scan.osv import OsvRecord, parse_record
from cargohold.services.vulndb import (
    ArchiveLimits,
    SourceWouldEmpty,
    import_source,
    open_local,
)
from cargohold.services.vulndb_sources import SourceError
from tests.vulndb.conftest import DATA, osv, write_dir, write_zip

Store = VulnStore[OsvRecord]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return open_local(tmp_path / "db")


def _ids(records: list[OsvRecord]) -> list[str]:
    return sorted(record.id for record in records)


def test_import_the_test_data_directory(store: Store) -> None:
    result = import_source(store, str(DATA))

    assert (result.added, result.updated, result.unchanged, result.withdrawn) == (4, 0, 0, 0)
    assert result.invalid == 2
    assert len(result.invalid_messages) == 2
    # Messages name the file the bad record came from.
    assert any(m.startswith("broken/no-modified.json: ") for m in result.invalid_messages)
    assert any(m.startswith("broken/truncated.json: not JSON") for m in result.invalid_messages)
    assert result.full is False
    assert result.name == result.location == str(DATA.resolve())
    assert result.version == store.version()
    assert result.keys_touched == {("Debian:12", "glibc"), ("PyPI", "jinja2")}

    # Names are normalised per ecosystem (PEP 503 for PyPI): the record says "Jinja2".
    assert _ids(store.records_for("PyPI", "jinja2")) == ["GHSA-h5c8-rqwp-cp95"]
    assert _ids(store.records_for("Debian:12", "glibc")) == ["DEBIAN-CVE-2023-4911", "DSA-5514-1"]
    assert store.records_for("Debian:11", "glibc") == []
    # The Debian records carry no severity; their upstream CVE record is found by id.
    assert _ids(store.records_by_ids(["DEBIAN-CVE-2023-4911", "CVE-2023-4911"])) == [
        "CVE-2023-4911",
        "DEBIAN-CVE-2023-4911",
        "DSA-5514-1",
    ]
    # What comes back is the whole record, as stored.
    record = store.records_by_ids(["CVE-2024-22195"])[0]
    original = json.loads((DATA / "pypi" / "GHSA-h5c8-rqwp-cp95.json").read_text())
    assert record == parse_record(original)


def test_reimport_is_incremental_by_modified(store: Store, tmp_path: Path) -> None:
    source = tmp_path / "advisories"
    write_dir(
        source,
        osv("GHSA-1", "2024-01-01T00:00:00Z", (("PyPI", "one"),)),
        osv("GHSA-2", "2024-01-01T00:00:00Z", (("PyPI", "two"),)),
        osv("GHSA-3", "2024-01-01T00:00:00Z", (("PyPI", "three"),)),
    )
    first = import_source(store, str(source))
    assert first.added == 3

    again = import_source(store, str(source))
    assert (again.added, again.updated, again.unchanged) == (0, 0, 3)
    assert again.keys_touched == set()
    assert again.version == first.version
    assert not again.changed

    write_dir(
        source,
        # Older than stored: a stale mirror must not undo a newer record.
        osv("GHSA-1", "2023-06-01T00:00:00Z", (("PyPI", "stale"),)),
        osv("GHSA-2", "2024-02-01T00:00:00Z", (("PyPI", "two"), ("PyPI", "two-extra"))),
    )
    later = import_source(store, str(source))
    assert (later.added, later.updated, later.unchanged) == (0, 1, 2)
    assert later.keys_touched == {("PyPI", "two"), ("PyPI", "two-extra")}
    assert later.version != first.version
    assert store.affected_keys_changed_since(first.version) == later.keys_touched
    assert _ids(store.records_for("PyPI", "one")) == ["GHSA-1"]
    assert store.records_for("PyPI", "stale") == []
    assert _ids(store.records_for("PyPI", "two-extra")) == ["GHSA-2"]


def test_withdrawn_records_disappear(store: Store, tmp_path: Path) -> None:
    source = tmp_path / "advisories"
    write_dir(source, osv("GHSA-1", packages=(("npm", "left-pad"),), aliases=("CVE-2024-1",)))
    import_source(store, str(source))
    assert _ids(store.records_for("npm", "left-pad")) == ["GHSA-1"]

    write_dir(
        source,
        osv(
            "GHSA-1",
            "2024-03-01T00:00:00Z",
            (("npm", "left-pad"),),
            withdrawn="2024-03-01T00:00:00Z",
        ),
    )
    result = import_source(store, str(source))
    assert (result.withdrawn, result.added, result.updated) == (1, 0, 0)
    assert result.keys_touched == {("npm", "left-pad")}
    assert store.records_for("npm", "left-pad") == []
    assert store.records_by_ids(["CVE-2024-1"]) == []
    assert store.status().records == 0


def test_zip_is_a_full_export_and_prunes_what_vanished(store: Store, tmp_path: Path) -> None:
    export = tmp_path / "Go" / "all.zip"
    write_zip(
        export,
        osv("GO-1", packages=(("Go", "example.com/a"),)),
        osv("GO-2", packages=(("Go", "example.com/b"),)),
    )
    # A record of the same ecosystem from another source is not this export's to remove.
    write_dir(tmp_path / "extra", osv("GO-3", packages=(("Go", "example.com/c"),)))
    import_source(store, str(export), "go")
    import_source(store, str(tmp_path / "extra"), "extra")

    write_zip(export, osv("GO-1", packages=(("Go", "example.com/a"),)))
    result = import_source(store, str(export), "go")
    assert result.full is True
    assert (result.unchanged, result.removed) == (1, 1)
    assert result.keys_touched == {("Go", "example.com/b")}
    assert store.records_for("Go", "example.com/b") == []
    assert _ids(store.records_for("Go", "example.com/c")) == ["GO-3"]

    # An invalid record is kept as stored rather than pruned.
    broken = osv("GO-1", "2025-01-01T00:00:00Z", (("Go", "example.com/a"),))
    broken["modified"] = "yesterday"
    write_zip(export, broken)
    result = import_source(store, str(export), "go")
    assert (result.invalid, result.removed) == (1, 0)
    assert _ids(store.records_for("Go", "example.com/a")) == ["GO-1"]


def test_directory_prunes_only_when_asked(store: Store, tmp_path: Path) -> None:
    source = tmp_path / "advisories"
    write_dir(source, osv("A-1"), osv("A-2"))
    import_source(store, str(source))
    (source / "A-2.json").unlink()

    partial = import_source(store, str(source))
    assert partial.removed == 0
    assert store.status().records == 2

    full = import_source(store, str(source), full=True)
    assert full.removed == 1
    assert _ids(store.records_for("PyPI", "example")) == ["A-1"]


def test_single_json_file_with_one_record_or_a_list(store: Store, tmp_path: Path) -> None:
    one = tmp_path / "one.json"
    one.write_text(json.dumps(osv("R-1")))
    many = tmp_path / "many.json"
    many.write_text(json.dumps([osv("R-2"), osv("R-3"), "nonsense"]))

    assert import_source(store, str(one)).added == 1
    result = import_source(store, str(many))
    assert (result.added, result.invalid) == (2, 1)
    assert result.invalid_messages == ["many.json[2]: not a JSON object"]
    assert _ids(store.records_for("PyPI", "example")) == ["R-1", "R-2", "R-3"]


def test_import_from_url(store: Store, http_root: tuple[Path, str]) -> None:
    root, base = http_root
    write_zip(root / "PyPI" / "all.zip", osv("PYSEC-1", packages=(("PyPI", "Flask_Login"),)))
    (root / "one.json").write_text(json.dumps(osv("PYSEC-2")))

    result = import_source(store, f"{base}/PyPI/all.zip")
    assert (result.added, result.full, result.location) == (1, True, f"{base}/PyPI/all.zip")
    assert _ids(store.records_for("PyPI", "flask-login")) == ["PYSEC-1"]

    result = import_source(store, f"{base}/one.json")
    assert (result.added, result.full) == (1, False)
    assert {s.location for s in store.status().sources} == {
        f"{base}/PyPI/all.zip",
        f"{base}/one.json",
    }


def test_unreadable_sources_are_one_line_errors(
    store: Store, tmp_path: Path, http_root: tuple[Path, str]
) -> None:
    _, base = http_root
    (tmp_path / "notes.txt").write_text("not json at all")
    export = write_zip(tmp_path / "all.zip", *(osv(f"R-{n}") for n in range(20)))
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(export.read_bytes()[:300])
    cases = {
        str(tmp_path / "missing"): "no such file or directory",
        str(tmp_path / "notes.txt"): "neither a zip archive nor a JSON file",
        str(truncated): "is not a readable zip archive",
        f"{base}/missing.zip": "HTTP 404",
        "http://127.0.0.1:9/all.zip": "cannot download",
        "ftp://example.test/all.zip": "only http(s) URLs and paths",
    }
    for source, expected in cases.items():
        with pytest.raises(SourceError) as caught:
            import_source(store, source)
        message = str(caught.value)
        assert expected in message, message
        assert "\n" not in message
    assert store.status().records == 0


def test_duplicate_ids_in_one_source_keep_the_newest(store: Store, tmp_path: Path) -> None:
    source = tmp_path / "advisories"
    (source / "old").mkdir(parents=True)
    (source / "old" / "R.json").write_text(
        json.dumps(osv("R", "2024-01-01T00:00:00Z", (("npm", "old"),)))
    )
    (source / "R.json").write_text(json.dumps(osv("R", "2024-05-01T00:00:00Z", (("npm", "new"),))))
    result = import_source(store, str(source))
    assert result.added == 1
    assert _ids(store.records_for("npm", "new")) == ["R"]
    assert store.records_for("npm", "old") == []


def test_hidden_directories_and_other_files_are_skipped(store: Store, tmp_path: Path) -> None:
    source = tmp_path / "checkout"
    write_dir(source, osv("R-1"))
    write_dir(source / ".git" / "objects", osv("HIDDEN-1"))
    shutil.copy(DATA / "README.txt", source / "README.txt")
    result = import_source(store, str(source))
    assert (result.added, result.invalid) == (1, 0)


def test_progress_reports_records_read(store: Store, tmp_path: Path) -> None:
    source = write_zip(tmp_path / "all.zip", *(osv(f"R-{n}") for n in range(4500)))
    counts: list[int] = []
    result = import_source(store, str(source), progress=counts.append)
    assert result.added == 4500
    assert counts == sorted(counts)
    assert counts[-1] == 4500
    assert len(counts) >= 3


def test_import_on_postgresql(vulndb_postgres_url: str) -> None:
    engine = make_engine(vulndb_postgres_url)
    metadata.drop_all(engine)
    store: Store = VulnStore(engine, parse_record)
    store.create_schema()
    result = import_source(store, str(DATA))
    assert (result.added, result.invalid) == (4, 2)
    assert _ids(store.records_for("Debian:12", "glibc")) == ["DEBIAN-CVE-2023-4911", "DSA-5514-1"]
    again = import_source(store, str(DATA))
    assert (again.unchanged, again.version) == (4, result.version)
    engine.dispose()


def test_zip_members_other_than_json_are_ignored(store: Store, tmp_path: Path) -> None:
    export = tmp_path / "all.zip"
    with zipfile.ZipFile(export, "w") as archive:
        archive.writestr("dir/", "")
        archive.writestr("dir/R-1.json", json.dumps(osv("R-1")))
        archive.writestr("LICENSE", "text")
    result = import_source(store, str(export))
    assert (result.added, result.invalid) == (1, 0)


def test_a_full_import_that_would_empty_its_source_needs_allow_empty(
    store: Store, tmp_path: Path
) -> None:
    export = write_zip(tmp_path / "all.zip", osv("GO-1"), osv("GO-2"))
    import_source(store, str(export), "go")
    empty = tmp_path / "empty.zip"
    zipfile.ZipFile(empty, "w").close()
    with pytest.raises(SourceWouldEmpty, match="holds none of the 2 records of source 'go'"):
        import_source(store, str(empty), "go")
    # Nor does one whose records are all unreadable.
    broken = osv("X-1")
    broken["modified"] = "yesterday"
    with pytest.raises(SourceWouldEmpty):
        import_source(store, str(write_zip(tmp_path / "broken.zip", broken)), "go")
    assert store.status().records == 2
    # A source with nothing yet, a partial import and an export that keeps one are fine.
    assert import_source(store, str(empty), "new").removed == 0
    assert import_source(store, str(empty), "go", full=False).removed == 0
    assert import_source(store, str(write_zip(export, osv("GO-1"))), "go").removed == 1
    emptied = import_source(store, str(empty), "go", allow_empty=True)
    assert (emptied.removed, store.status().records) == (1, 0)


def _bomb(path: Path, member_bytes: int, name: str = "BOMB-1.json") -> Path:
    """A zip of one member of `member_bytes` zeros: about 1000 times smaller than that."""
    chunk = b"0" * (1 << 20)
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open(name, "w", force_zip64=True) as member,
    ):
        for _ in range(member_bytes // len(chunk)):
            member.write(chunk)
    return path


def test_zip_bombs_are_refused_before_anything_is_written(store: Store, tmp_path: Path) -> None:
    big = _bomb(tmp_path / "big.zip", 300 << 20)
    assert big.stat().st_size < 1 << 20
    with pytest.raises(SourceError, match=r"member 'BOMB-1.json' is larger than 33,554,432 bytes"):
        import_source(store, str(big), "bomb")
    # Under the size cap but expanding about 1000 times: the ratio cap.
    dense = _bomb(tmp_path / "dense.zip", 8 << 20)
    with pytest.raises(SourceError, match=r"over 100x \(vulndb_zip_max_ratio\).*zip bomb"):
        import_source(store, str(dense), "bomb")
    small = ArchiveLimits(member_max_bytes=4 << 20, max_ratio=10_000)
    with pytest.raises(SourceError, match="is larger than 4,194,304 bytes"):
        import_source(store, str(dense), "bomb", limits=small)
    assert store.status().records == 0
    assert not store.status().sources


def test_the_whole_archive_expansion_is_capped(store: Store, tmp_path: Path) -> None:
    """Many members, each under the caps, add up: the archive as a whole has the ratio cap."""
    many = tmp_path / "many.zip"
    with zipfile.ZipFile(many, "w", zipfile.ZIP_DEFLATED) as archive:
        for n in range(40):
            archive.writestr(f"R-{n}.json", json.dumps({"id": f"R-{n}", "pad": " " * 500_000}))
    limits = ArchiveLimits(member_max_bytes=1 << 20, max_ratio=100, ratio_floor=1 << 20)
    with pytest.raises(SourceError, match=r"the archive declares .* bytes uncompressed"):
        import_source(store, str(many), "many", limits=limits)
    assert store.status().records == 0


def test_ordinary_exports_pass_the_archive_limits(store: Store, tmp_path: Path) -> None:
    records = [osv(f"R-{n}", fixed=f"{n}.0") for n in range(200)]
    export = write_zip(tmp_path / "all.zip", *records)
    limits = ArchiveLimits(member_max_bytes=64 << 10, max_ratio=20, ratio_floor=64 << 10)
    assert import_source(store, str(export), "ok", limits=limits).added == 200
