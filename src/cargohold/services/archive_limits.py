"""How far a zip of vulnerability records may expand when it is imported.

A module of its own so that building the application does not import the importer (and
its HTTP client) just to pass the limits along.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ArchiveLimits:
    """How much a zip source may expand (settings `vulndb_zip_member_max_bytes` and
    `vulndb_zip_max_ratio`).

    The ratio applies to each member larger than `ratio_floor` bytes (tiny files compress
    oddly) and to the archive as a whole against its size on disk.
    """

    member_max_bytes: int = 32 << 20
    max_ratio: int = 100
    ratio_floor: int = 1 << 20
