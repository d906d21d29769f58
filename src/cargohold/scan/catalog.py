"""What a cataloger is: a file filter and a parser from file content to package records."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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

    @property
    def key(self) -> tuple[str, str, str, str | None]:
        return (self.type, self.name, self.version, self.arch)


class NotInventoried(Exception):
    """The file holds packages in a format the scanner cannot read (e.g. BerkeleyDB rpmdb)."""


class UnreadableFile(Exception):
    """The file is damaged or not in the format its path promises."""


@dataclass(frozen=True)
class Cataloger:
    name: str
    wants: Callable[[str], bool]
    parse: Callable[[str, bytes, OSInfo | None], list[PackageRecord]]
    # An unreadable OS package database hides the packages vulnerability gates care
    # about most, so it is a blocking problem rather than a warning.
    os_packages: bool = False
