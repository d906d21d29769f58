"""The vulnerability store on SQLite and PostgreSQL: lookups the matcher makes, incremental
writes, withdrawal, pruning, the database version and the keys each change touched."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from cargohold.meta.vulndb import IncomingRecord, VulnStore

# The store is generic over the parser; these tests keep records as plain dicts.
Store = VulnStore[dict[str, Any]]


def _ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def incoming(
    record_id: str,
    modified: str = "2024-01-01T00:00:00Z",
    packages: tuple[tuple[str, str], ...] = (("PyPI", "example"),),
    other_ids: tuple[str, ...] = (),
    withdrawn: str | None = None,
) -> IncomingRecord:
    data = {"id": record_id, "modified": modified, "aliases": list(other_ids)}
    return IncomingRecord(
        id=record_id,
        modified=_ts(modified),
        withdrawn=None if withdrawn is None else _ts(withdrawn),
        data=json.dumps(data),
        packages=frozenset(packages),
        other_ids=frozenset(other_ids),
    )


@pytest.fixture
def store(engine: Engine) -> Store:
    store: Store = VulnStore(engine, lambda data: data)
    store.create_schema()
    return store


def _ids(records: list[dict[str, Any]]) -> list[str]:
    return [record["id"] for record in records]


def test_records_for_matches_exact_ecosystem_and_name(store: Store) -> None:
    store.apply(
        [
            incoming("DSA-1", packages=(("Debian:12", "glibc"),)),
            incoming("DSA-2", packages=(("Debian:11", "glibc"), ("Debian:12", "openssl"))),
            incoming("GHSA-1", packages=(("PyPI", "jinja2"), ("PyPI", "markupsafe"))),
        ],
        "test",
    )
    assert _ids(store.records_for("Debian:12", "glibc")) == ["DSA-1"]
    assert _ids(store.records_for("Debian:11", "glibc")) == ["DSA-2"]
    assert _ids(store.records_for("PyPI", "markupsafe")) == ["GHSA-1"]
    assert store.records_for("Debian", "glibc") == []
    assert store.records_for("Debian:13", "glibc") == []


def test_records_by_ids_finds_by_id_alias_and_upstream(store: Store) -> None:
    store.apply(
        [
            incoming("CVE-2023-4911", packages=()),
            incoming("DEBIAN-CVE-2023-4911", other_ids=("CVE-2023-4911",)),
            incoming("GHSA-x", other_ids=("CVE-2024-1", "PYSEC-2024-9")),
            incoming("UNRELATED"),
        ],
        "test",
    )
    assert _ids(store.records_by_ids(["CVE-2023-4911"])) == [
        "CVE-2023-4911",
        "DEBIAN-CVE-2023-4911",
    ]
    assert _ids(store.records_by_ids(iter(["PYSEC-2024-9", "nothing"]))) == ["GHSA-x"]
    assert store.records_by_ids([]) == []


def test_records_by_ids_takes_many_ids(store: Store) -> None:
    store.apply([incoming(f"R-{n}", other_ids=(f"CVE-{n}",)) for n in range(50)], "test")
    wanted = [f"CVE-{n}" for n in range(0, 50, 2)] + [f"X-{n}" for n in range(12000)]
    assert sorted(_ids(store.records_by_ids(wanted))) == sorted(f"R-{n}" for n in range(0, 50, 2))


def test_incremental_by_modified(store: Store) -> None:
    first = store.apply([incoming("R-1", "2024-01-02T00:00:00Z", (("npm", "a"),))], "s")
    assert (first.added, first.updated, first.unchanged) == (1, 0, 0)
    version = store.version()

    older = store.apply([incoming("R-1", "2024-01-01T00:00:00Z", (("npm", "b"),))], "s")
    same = store.apply([incoming("R-1", "2024-01-02T00:00:00Z", (("npm", "b"),))], "s")
    assert (older.unchanged, same.unchanged) == (1, 1)
    assert older.keys == same.keys == set()
    assert store.version() == version
    assert _ids(store.records_for("npm", "a")) == ["R-1"]

    newer = store.apply([incoming("R-1", "2024-01-03T00:00:00Z", (("npm", "b"),))], "s")
    assert (newer.added, newer.updated) == (0, 1)
    assert store.records_for("npm", "a") == []
    assert store.records_for("npm", "b")[0]["modified"] == "2024-01-03T00:00:00Z"
    # The package the record no longer affects is touched too: its findings change.
    assert newer.keys == {("npm", "a"), ("npm", "b")}
    assert store.version() != version


def test_withdrawn_records_are_deleted_and_never_added(store: Store) -> None:
    store.apply([incoming("R-1", other_ids=("CVE-1",)), incoming("R-2")], "s")
    outcome = store.apply(
        [
            incoming("R-1", "2024-02-01T00:00:00Z", withdrawn="2024-02-01T00:00:00Z"),
            incoming("R-3", "2024-02-01T00:00:00Z", withdrawn="2024-02-01T00:00:00Z"),
        ],
        "s",
    )
    assert (outcome.added, outcome.withdrawn) == (0, 2)
    assert outcome.keys == {("PyPI", "example")}
    assert _ids(store.records_for("PyPI", "example")) == ["R-2"]
    assert store.records_by_ids(["CVE-1", "R-1", "R-3"]) == []
    assert store.status().records == 1


def test_changed_keys_since_a_version(store: Store) -> None:
    store.apply([incoming("A", packages=(("Go", "x"),))], "s")
    before = store.version()
    assert store.affected_keys_changed_since(before) == frozenset()

    store.apply([incoming("B", packages=(("Go", "y"),))], "s")
    middle = store.version()
    store.apply([incoming("A", "2024-03-01T00:00:00Z", packages=(("Go", "z"),))], "s")

    assert store.affected_keys_changed_since(before) == {("Go", "y"), ("Go", "x"), ("Go", "z")}
    assert store.affected_keys_changed_since(middle) == {("Go", "x"), ("Go", "z")}
    assert store.affected_keys_changed_since(store.version()) == frozenset()


@pytest.mark.parametrize(
    "version",
    # "²" and "\u0661" are digits to str.isdigit(); a serial is ASCII digits only.
    [None, "", "garbage", "1-otherdb", "999999-{instance}", "²-{instance}", "\u0661-{instance}"],
)
def test_unknown_versions_ask_for_everything(store: Store, version: str | None) -> None:
    store.apply([incoming("A")], "s")
    instance = store.version().partition("-")[2]
    if version is not None:
        version = version.format(instance=instance)
    assert store.affected_keys_changed_since(version) is None


def test_a_change_to_an_upstream_record_touches_the_records_pointing_at_it(store: Store) -> None:
    store.apply(
        [
            incoming("CVE-2023-4911", packages=()),
            incoming(
                "DEBIAN-CVE-2023-4911",
                packages=(("Debian:12", "glibc"),),
                other_ids=("CVE-2023-4911",),
            ),
            incoming("GHSA-a", packages=(("PyPI", "a"),), other_ids=("CVE-2024-1",)),
            incoming("PYSEC-a", packages=(("PyPI", "a-fork"),), other_ids=("CVE-2024-1",)),
            incoming("OTHER", packages=(("PyPI", "other"),)),
        ],
        "s",
    )
    # The CVE record carries the severity of the Debian one: a new CVSS vector changes it.
    outcome = store.apply([incoming("CVE-2023-4911", "2024-05-01T00:00:00Z", packages=())], "s")
    assert outcome.keys == {("Debian:12", "glibc")}
    # Records sharing an alias can lend each other a severity too.
    outcome = store.apply(
        [incoming("GHSA-a", "2024-05-01T00:00:00Z", (("PyPI", "a"),), ("CVE-2024-1",))], "s"
    )
    assert outcome.keys == {("PyPI", "a"), ("PyPI", "a-fork")}


def test_remove_deletes_only_the_sources_own_records(store: Store) -> None:
    store.apply([incoming("A"), incoming("B", packages=(("npm", "b"),))], "one")
    store.apply([incoming("C")], "two")
    outcome = store.remove(["B", "C", "missing"], "one")
    assert outcome.removed == 1
    assert outcome.keys == {("npm", "b")}
    assert sorted(_ids(store.records_for("PyPI", "example"))) == ["A", "C"]
    assert store.source_record_ids("one") == {"A"}


def test_status_counts_sources_ecosystems_and_packages(store: Store) -> None:
    empty = store.status()
    assert (empty.records, empty.packages, empty.sources, empty.updated_at) == (0, 0, (), None)

    store.apply(
        [
            incoming("DSA-1", packages=(("Debian:12", "glibc"), ("Debian:12", "zlib"))),
            incoming("DSA-2", packages=(("Debian:12", "glibc"),)),
            incoming("GHSA-1", packages=(("PyPI", "jinja2"),)),
        ],
        "debian",
    )
    store.record_import("debian", "/srv/osv/debian", 1000.0, _ts("2024-01-01T00:00:00Z"))
    store.apply([incoming("DSA-2", "2024-06-01T00:00:00Z", (("Debian:12", "glibc"),))], "extra")
    store.record_import("extra", "https://example.test/extra.zip", 2000.0, None)

    status = store.status()
    assert status.records == 3
    assert status.packages == 3
    assert status.ecosystems == {"Debian:12": 2, "PyPI": 1}
    assert status.version == store.version()
    assert status.updated_at is not None
    by_name = {source.name: source for source in status.sources}
    # DSA-2 now belongs to the source that wrote it last.
    assert by_name["debian"].records == 2
    assert by_name["extra"].records == 1
    assert by_name["debian"].last_import_at == 1000.0
    assert by_name["debian"].last_modified == _ts("2024-01-01T00:00:00Z")
    assert by_name["extra"].location == "https://example.test/extra.zip"


def test_parsed_records_are_reused_until_their_text_changes(engine: Engine) -> None:
    parsed: list[str] = []

    def parse(data: dict[str, Any]) -> dict[str, Any]:
        parsed.append(data["id"])
        return data

    store = VulnStore(engine, parse)
    store.create_schema()
    store.apply([incoming("A")], "s")
    store.records_for("PyPI", "example")
    store.records_by_ids(["A"])
    assert parsed == ["A"]
    store.apply([incoming("A", "2024-09-01T00:00:00Z")], "s")
    assert store.records_for("PyPI", "example")[0]["modified"] == "2024-09-01T00:00:00Z"
    assert parsed == ["A", "A"]


def test_nuget_and_packagist_names_stored_in_their_spelling_are_brought_to_lower_case(
    store: Store,
) -> None:
    # A database filled before NuGet and Packagist names were compared case-insensitively
    # keyed them as the records spell them; opening it brings them to the normal form.
    store.apply(
        [
            incoming("GHSA-nuget", packages=(("NuGet", "Newtonsoft.Json"),)),
            incoming("GHSA-both", packages=(("NuGet", "System.Text.Json"),)),
            incoming("GHSA-php", packages=(("Packagist", "Symfony/HTTP-Kernel"),)),
            incoming("GHSA-npm", packages=(("npm", "JSONStream"),)),
        ],
        "test",
    )
    store.apply(
        [
            incoming(
                "GHSA-both",
                modified="2024-02-01T00:00:00Z",
                packages=(("NuGet", "System.Text.Json"), ("NuGet", "system.text.json")),
            )
        ],
        "test",
    )
    store.create_schema()
    assert _ids(store.records_for("NuGet", "newtonsoft.json")) == ["GHSA-nuget"]
    assert _ids(store.records_for("NuGet", "system.text.json")) == ["GHSA-both"]
    assert _ids(store.records_for("Packagist", "symfony/http-kernel")) == ["GHSA-php"]
    assert store.records_for("NuGet", "Newtonsoft.Json") == []
    # Only there: npm names are case-sensitive.
    assert _ids(store.records_for("npm", "JSONStream")) == ["GHSA-npm"]
    assert store.records_for("npm", "jsonstream") == []
