"""Filling the vulnerability database from OSV sources.

A source is a directory of OSV JSON files (searched recursively, hidden directories
skipped), a zip of them (osv.dev publishes one per ecosystem:
`https://osv-vulnerabilities.storage.googleapis.com/<Ecosystem>/all.zip`), a single JSON
file (one record, or a list of records), or an http(s) URL of a zip or JSON file.

Rules of an import:
- Incremental by `modified`: a record stored with the same or a newer `modified` is left
  alone (counted unchanged); an older one is replaced (updated).
- A withdrawn record is deleted if stored, and never added (counted withdrawn).
- A record that fails to parse is counted invalid, with its file named in the message; the
  rest of the source still imports. A source that cannot be read at all (missing path, a
  corrupt zip, a failed download) stops the import with `SourceError`.
- Full exports prune: when the source is a zip (osv.dev's exports are complete per
  ecosystem), or `full=True` is asked for, records that this source (by name) wrote earlier
  but that are no longer in it are deleted (counted removed). A directory or JSON file is
  taken as partial (it may hold just the records that changed) and deletes nothing unless
  `full=True`. A record that is in the export but invalid is kept as stored.
- A full import that holds none of the records a source has (an empty or wrong export)
  would remove every one of them: it is refused with `SourceWouldEmpty` unless
  `allow_empty=True`.
- Zips are read member by member, never whole: a member larger than
  `ArchiveLimits.member_max_bytes` uncompressed, or that expands more than
  `ArchiveLimits.max_ratio` times (a zip bomb), stops the import with `SourceError` before
  any record is written; sizes are checked as declared and again as bytes come out.
- The source's name defaults to its location (absolute path or URL), so re-importing the
  same place is the same source.

Records are written in batches, one transaction each; every batch that changes records
moves the database version on and notes the package keys it touched.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from cargohold.meta.vulndb import (
    BatchOutcome,
    IncomingRecord,
    PackageKey,
    VulnStore,
    local_engine,
)
from cargohold.scan.errors import InvalidRecord
from cargohold.scan.osv import OsvRecord, normalize_name, parse_record
from cargohold.services.archive_limits import ArchiveLimits
from cargohold.services.vulndb_sources import (
    Document,
    SourceError,
    directory_documents,
    download,
    file_documents,
    is_zip_file,
    zip_documents,
)

BATCH_SIZE = 2000
INVALID_MESSAGES_KEPT = 10


class SourceWouldEmpty(SourceError):
    """A full import would remove every record of its source; see `allow_empty`."""


@dataclass
class ImportResult:
    name: str
    location: str
    full: bool  # records missing from the source were pruned
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    withdrawn: int = 0
    removed: int = 0  # gone from a full export
    invalid: int = 0
    invalid_messages: list[str] = field(default_factory=list)  # the first few
    keys_touched: set[PackageKey] = field(default_factory=set)
    version: str = ""  # the database version after the import
    seconds: float = 0.0

    @property
    def records(self) -> int:
        """Records read from the source."""
        return self.added + self.updated + self.unchanged + self.withdrawn + self.invalid

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed or self.keys_touched)

    def _add(self, outcome: BatchOutcome) -> None:
        self.added += outcome.added
        self.updated += outcome.updated
        self.unchanged += outcome.unchanged
        self.withdrawn += outcome.withdrawn
        self.removed += outcome.removed
        self.keys_touched |= outcome.keys

    def as_record(self) -> dict[str, Any]:
        """An import as a `vulndb-update` job stores it: the admin API's VulnDbImport document
        without `reevaluationJob` (api/models/scanning.py, kept equal by
        tests/unit/test_api_models.py)."""
        return {
            "name": self.name,
            "location": self.location,
            "full": self.full,
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "withdrawn": self.withdrawn,
            "removed": self.removed,
            "invalid": self.invalid,
            "invalidMessages": list(self.invalid_messages),
            "packagesTouched": len(self.keys_touched),
            "version": self.version,
            "seconds": round(self.seconds, 3),
        }

    def _invalid(self, message: str) -> None:
        self.invalid += 1
        if len(self.invalid_messages) < INVALID_MESSAGES_KEPT:
            self.invalid_messages.append(message)


def default_db_dir() -> Path:
    """`$XDG_CACHE_HOME/cargohold`, or `~/.cache/cargohold`."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "cargohold"


def open_local(db_dir: Path) -> VulnStore[OsvRecord]:
    """The local database in `db_dir/vulndb.sqlite`, created if missing."""
    store = VulnStore(local_engine(db_dir), parse_record)
    store.create_schema()
    return store


def local_database_exists(db_dir: Path) -> bool:
    return (db_dir / "vulndb.sqlite").is_file()


def import_source(
    store: VulnStore[OsvRecord],
    source: str,
    name: str | None = None,
    *,
    full: bool | None = None,
    progress: Callable[[int], None] | None = None,
    location: str | None = None,
    allow_empty: bool = False,
    limits: ArchiveLimits | None = None,
) -> ImportResult:
    """Import OSV records from `source` (see the module's rules); `progress` gets a count.

    `location` names a local `source` in the database's source list instead of its path (the
    admin API receives uploads into a temporary file). `allow_empty` lets a full import
    remove every record of its source.
    """
    started = time.perf_counter()
    options = _Options(full, progress, allow_empty, limits or ArchiveLimits())
    if source.startswith(("http://", "https://")):
        with tempfile.TemporaryDirectory(prefix="cargohold-osv-") as tmp:
            path = download(source, Path(tmp))
            result = _import_path(store, path, source, name, options)
    elif "://" in source:
        raise SourceError(f"cannot import from {source}: only http(s) URLs and paths are read")
    else:
        path = Path(source).expanduser()
        if not path.exists():
            raise SourceError(f"{source}: no such file or directory")
        label = location or str(path.resolve())
        result = _import_path(store, path, label, name, options)
    result.seconds = time.perf_counter() - started
    return result


@dataclass(frozen=True)
class _Options:
    full: bool | None
    progress: Callable[[int], None] | None
    allow_empty: bool
    limits: ArchiveLimits


def _import_path(
    store: VulnStore[OsvRecord],
    path: Path,
    location: str,
    name: str | None,
    options: _Options,
) -> ImportResult:
    try:
        is_zip = path.is_file() and is_zip_file(path)
    except OSError as exc:
        raise SourceError(f"cannot read {location}: {exc.strerror}") from None
    full = is_zip if options.full is None else options.full
    if path.is_dir():
        documents = directory_documents(path)
    elif is_zip:
        documents = zip_documents(path, location, options.limits)
    else:
        documents = file_documents(path, location)
    importer = _Importer(
        store, name or location, location, full, options.progress, options.allow_empty
    )
    importer.run(documents)
    return importer.result


def _parse_time(text: Any) -> float | None:
    """A record's `modified` for the quick unchanged check; None when in doubt."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    # As parse_record reads it: a time without an offset is UTC.
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


class _Importer:
    def __init__(
        self,
        store: VulnStore[OsvRecord],
        name: str,
        location: str,
        full: bool,
        progress: Callable[[int], None] | None,
        allow_empty: bool = False,
    ) -> None:
        self.store = store
        self.name = name
        self.location = location
        self.progress = progress
        self.allow_empty = allow_empty
        self.result = ImportResult(name=name, location=location, full=full)
        self.seen: set[str] = set()  # every id in the source, valid or not
        self.newest: float | None = None
        self._pending: list[tuple[str, dict[str, Any]]] = []
        self._read = 0

    def run(self, documents: Iterator[Document]) -> None:
        for label, data, error in documents:
            if error is not None or data is None:
                self.result._invalid(f"{label}: {error}")
                continue
            self._document(label, data)
        self._flush()
        if self.result.full:
            held = self.store.source_record_ids(self.name)
            vanished = sorted(held - self.seen)
            if held and len(vanished) == len(held) and not self.allow_empty:
                # An empty or wrong export would silently empty the source.
                raise SourceWouldEmpty(
                    f"{self.location} holds none of the {len(held):,} records of source "
                    f"{self.name!r}: as a full export it would remove them all; import it with "
                    "allow-empty (API: allowEmpty=true, CLI: --allow-empty) if that is meant"
                )
            for start in range(0, len(vanished), BATCH_SIZE):
                self.result._add(self.store.remove(vanished[start : start + BATCH_SIZE], self.name))
        self.store.record_import(self.name, self.location, time.time(), self.newest)
        self.result.version = self.store.version()

    def _document(self, label: str, data: bytes) -> None:
        try:
            document = orjson.loads(data)
        except ValueError as exc:
            self.result._invalid(f"{label}: not JSON ({exc})")
            return
        if isinstance(document, dict):
            self._pending.append((label, document))
        elif isinstance(document, list):
            for index, item in enumerate(document):
                if isinstance(item, dict):
                    self._pending.append((f"{label}[{index}]", item))
                else:
                    self.result._invalid(f"{label}[{index}]: not a JSON object")
        else:
            self.result._invalid(f"{label}: not a JSON object or a list of them")
            return
        if len(self._pending) >= BATCH_SIZE:
            self._flush()

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        if not pending:
            return
        ids = {d["id"] for _, d in pending if isinstance(d.get("id"), str)}
        stored = self.store.stored_modified(ids)
        batch: dict[str, IncomingRecord] = {}
        quick_unchanged = 0
        for label, document in pending:
            record_id = document.get("id")
            if isinstance(record_id, str):
                self.seen.add(record_id)
                known = stored.get(record_id)
                modified = _parse_time(document.get("modified"))
                if known is not None and modified is not None and known >= modified:
                    # Stored already, and not older: skip the full parse.
                    quick_unchanged += 1
                    self._newest(modified)
                    continue
            incoming = self._incoming(label, document)
            if incoming is None:
                continue
            self._newest(incoming.modified)
            earlier = batch.get(incoming.id)
            if earlier is not None:
                # The same id twice in one source: the newer one counts.
                self.result.unchanged += 1
                if earlier.modified >= incoming.modified:
                    continue
            batch[incoming.id] = incoming
        self.result.unchanged += quick_unchanged
        if batch:
            self.result._add(self.store.apply(list(batch.values()), self.name))
        self._read += len(pending)
        if self.progress is not None:
            self.progress(self._read)

    def _incoming(self, label: str, document: dict[str, Any]) -> IncomingRecord | None:
        try:
            record = parse_record(document)
            packages = frozenset(
                (affected.ecosystem, normalize_name(affected.ecosystem, affected.name))
                for affected in record.affected
                if affected.ecosystem  # entries naming only a git repository match nothing
            )
            text = orjson.dumps(document).decode()  # compact: half the pretty-printed size
        except InvalidRecord as exc:
            self.result._invalid(f"{label}: {exc}")
            return None
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            self.result._invalid(f"{label}: cannot parse ({type(exc).__name__}: {exc})")
            return None
        return IncomingRecord(
            id=record.id,
            modified=record.modified.timestamp(),
            withdrawn=None if record.withdrawn is None else record.withdrawn.timestamp(),
            data=text,
            packages=packages,
            other_ids=frozenset((*record.aliases, *record.upstream)) - {record.id},
        )

    def _newest(self, modified: float) -> None:
        if self.newest is None or modified > self.newest:
            self.newest = modified
