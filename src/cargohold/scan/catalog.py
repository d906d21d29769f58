"""What a cataloger is: a file filter and a parser from file content to package records.

Most catalogers read small database files chosen by name, and get their whole
content. Two kinds of file do not fit that: archives and executables can be
hundreds of megabytes, and an executable can be called anything. For those a
cataloger adds `extract`, which reads the file once as a forward-only stream in
bounded memory and keeps only what `parse` needs (e.g. a Go binary's build
info), and may add `wants_file`, which chooses files by their tar header (mode)
when their name says nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

from cargohold.scan.model import OSInfo


@dataclass(frozen=True)
class PackageRecord:
    """A package as one database file states it; the inventory adds layer and location."""

    type: str
    name: str
    version: str
    purl: str
    source_name: str | None = None
    source_version: str | None = None
    arch: str | None = None
    # The path (from the image root) of the file that reports this package as
    # installed, when this record only states that it should be (a lockfile entry):
    # a package of the same type and name found there replaces this record.
    superseded_by: str | None = None

    @property
    def key(self) -> tuple[str, str, str, str | None]:
        return (self.type, self.name, self.version, self.arch)


@dataclass(frozen=True)
class FileList:
    """The files one OS package installed, as its package manager lists them."""

    name: str
    arch: str | None
    paths: tuple[str, ...]  # from the image root, without a leading slash


class NotInventoried(Exception):
    """The file holds OS packages the scanner cannot read (e.g. a damaged rpmdb)."""


class UnreadableFile(Exception):
    """The file is damaged or not in the format its path promises."""


class PartlyUnreadable(UnreadableFile):
    """An extract hook read part of a file (e.g. one damaged jar inside a war): `data` is
    what it kept from the rest, reported as usual, beside the problem."""

    def __init__(self, message: str, data: bytes | None) -> None:
        super().__init__(message)
        self.data = data


# (path, content stream, size in bytes) -> the bytes parse() reads, or None when the
# file holds nothing for this cataloger. May raise UnreadableFile.
Extractor = Callable[[str, IO[bytes], int], bytes | None]


@dataclass(frozen=True)
class Cataloger:
    name: str
    wants: Callable[[str], bool]
    parse: Callable[[str, bytes, OSInfo | None], list[PackageRecord]]
    # An unreadable OS package database hides the packages vulnerability gates care
    # about most, so it is a blocking problem rather than a warning.
    os_packages: bool = False
    # Reduce a file, streamed, to what parse() reads (see the module docstring).
    extract: Extractor | None = None
    # With extract: also choose regular files by (path, mode) from their tar header.
    wants_file: Callable[[str, int], bool] | None = None
    # An OS package database that also lists each package's files (rpm, apk): those files
    # belong to the package (see ownership.py).
    file_lists: Callable[[str, bytes], list[FileList]] | None = None
