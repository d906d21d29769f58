"""Reading OSV sources for an import: a directory of JSON files, a zip of them, a single JSON
file, or the download of an http(s) URL.

Each reader yields documents (name, bytes, or an error message) for `services.vulndb` to
parse. Zips are read member by member, never whole: a member larger than
`ArchiveLimits.member_max_bytes` uncompressed, or that expands more than
`ArchiveLimits.max_ratio` times (a zip bomb), stops the import with `SourceError` before
any record is written; sizes are checked as declared and again as bytes come out.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson

from cargohold.services.archive_limits import ArchiveLimits

_ZIP_MAGIC = b"PK\x03\x04"
_EMPTY_ZIP_MAGIC = b"PK\x05\x06"
_CHUNK = 1 << 16


class SourceError(Exception):
    """The source cannot be read at all. The message is one line."""


def download(url: str, directory: Path) -> Path:
    """Fetch `url` into `directory` (streamed); SourceError with a one-line message."""
    target = directory / "source"
    try:
        with (
            httpx.stream("GET", url, follow_redirects=True, timeout=60) as response,
            target.open("wb") as file,
        ):
            if response.status_code != 200:
                raise SourceError(f"cannot download {url}: HTTP {response.status_code}")
            for chunk in response.iter_bytes(1 << 20):
                file.write(chunk)
    except httpx.HTTPError as exc:
        raise SourceError(f"cannot download {url}: {exc or type(exc).__name__}") from None
    except OSError as exc:
        raise SourceError(f"cannot store the download of {url}: {exc.strerror}") from None
    return target


def is_zip_file(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(4) in (_ZIP_MAGIC, _EMPTY_ZIP_MAGIC)


# A document: (name for messages, its bytes, or an error message when it could not be read).
Document = tuple[str, bytes | None, str | None]


def directory_documents(root: Path) -> Iterator[Document]:
    files: list[Path] = []
    for directory, subdirs, names in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        files += (Path(directory) / n for n in names if n.endswith(".json"))
    for file in sorted(files):
        label = str(file.relative_to(root))
        try:
            yield label, file.read_bytes(), None
        except OSError as exc:
            yield label, None, f"cannot read: {exc.strerror}"


class _ArchiveBudget:
    """Refuses a zip whose members expand past the limits, counting bytes as they come out."""

    def __init__(self, location: str, archive_bytes: int, limits: ArchiveLimits) -> None:
        self.location = location
        self.limits = limits
        self.total_limit = max(limits.ratio_floor, archive_bytes * limits.max_ratio)
        self.total = 0

    def check_declared(self, infos: list[zipfile.ZipInfo]) -> None:
        """Refuse on the sizes the archive declares, before anything is decompressed."""
        for info in infos:
            self.check_member(info, info.file_size)
        declared = sum(info.file_size for info in infos)
        if declared > self.total_limit:
            raise self._bomb(f"declares {declared:,} bytes uncompressed")

    def check_member(self, info: zipfile.ZipInfo, produced: int) -> None:
        limits = self.limits
        if produced > limits.member_max_bytes:
            raise SourceError(
                f"{self.location}: member {info.filename!r} is larger than "
                f"{limits.member_max_bytes:,} bytes uncompressed (vulndb_zip_member_max_bytes);"
                " refusing the archive"
            )
        ratio_limit = max(limits.ratio_floor, info.compress_size * limits.max_ratio)
        if produced > ratio_limit:
            raise SourceError(
                f"{self.location}: member {info.filename!r} expands from "
                f"{info.compress_size:,} to more than {ratio_limit:,} bytes, over "
                f"{limits.max_ratio}x (vulndb_zip_max_ratio): refusing a likely zip bomb"
            )

    def take(self, produced: int) -> None:
        self.total += produced
        if self.total > self.total_limit:
            raise self._bomb(f"expands to more than {self.total_limit:,} bytes")

    def _bomb(self, what: str) -> SourceError:
        return SourceError(
            f"{self.location}: the archive {what}, over {self.limits.max_ratio}x its size "
            f"(vulndb_zip_max_ratio; at least {self.limits.ratio_floor:,} bytes are always "
            "allowed): refusing a likely zip bomb"
        )


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: _ArchiveBudget) -> bytes:
    """One member's bytes, read in chunks and counted as they come out. zipfile stops at the
    declared size, which check_declared bounded already; counting keeps the bound without
    relying on that."""
    parts: list[bytes] = []
    produced = 0
    with archive.open(info) as member:
        while chunk := member.read(_CHUNK):
            produced += len(chunk)
            budget.check_member(info, produced)
            budget.take(len(chunk))
            parts.append(chunk)
    return b"".join(parts)


def zip_documents(path: Path, location: str, limits: ArchiveLimits) -> Iterator[Document]:
    try:
        with zipfile.ZipFile(path) as archive:
            members = [
                info
                for info in archive.infolist()
                if not info.is_dir() and info.filename.endswith(".json")
            ]
            budget = _ArchiveBudget(location, path.stat().st_size, limits)
            budget.check_declared(members)
            for info in members:
                yield info.filename, _read_member(archive, info, budget), None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error) as exc:
        raise SourceError(f"{location} is not a readable zip archive: {exc}") from None
    except NotImplementedError as exc:  # an unsupported compression method
        raise SourceError(f"{location}: {exc}") from None
    except OSError as exc:
        raise SourceError(f"cannot read {location}: {exc.strerror or exc}") from None


def file_documents(path: Path, location: str) -> Iterator[Document]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"cannot read {location}: {exc.strerror}") from None
    try:
        orjson.loads(data)
    except ValueError:
        raise SourceError(f"{location} is neither a zip archive nor a JSON file") from None
    yield path.name, data, None
