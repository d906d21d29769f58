"""The header blobs of an rpmdb, in each of the formats rpm has stored it in.

- `rpmdb.sqlite` (rpm 4.16+: Fedora, RHEL 9, Amazon Linux 2023): a `Packages(hnum, blob)`
  table. rpm keeps the database in WAL mode, which an in-memory (deserialized) database
  cannot open; the copy read here is switched to rollback-journal mode in its header first.
  rpm checkpoints the WAL when it closes the database, so `rpmdb.sqlite` holds every
  installed package (the `-wal` file of an image is empty).
- `Packages` in BerkeleyDB (rpm up to 4.15: CentOS 7, RHEL 7 and 8, Amazon Linux 2): a
  Berkeley DB hash database keyed by header number; read with `dissect.database`, a pure
  Python reader of Berkeley DB pages (see docs/decisions/035-rpm-database-formats.md). The
  record with key 0 is not a package.
- `Packages.db` in ndb (rpm's own format, SUSE since SLE 15 SP3): a 32-byte header ("RpmP",
  format version 0, generation, number of 4 KiB slot pages), the slot pages (16-byte slots
  "Slot", package index, block offset, block count; the header takes the first two), then
  the blobs, each at `block offset * 16` behind a 16-byte blob header ("BlbS", package
  index, generation, length) and followed, at the end of its blocks, by a 12-byte trailer
  (Adler-32, length, "BlbE"). All integers little-endian, as rpm's lib/backend/ndb/rpmpkg.c
  writes them; like rpm when it reads a package, the checksum is not verified.
"""

from __future__ import annotations

import io
import posixpath
import sqlite3
import struct

from dissect.database.bsd.db import DB as BerkeleyDB

from cargohold.scan.catalog import NotInventoried

SQLITE_NAME = "rpmdb.sqlite"
FORMATS = {SQLITE_NAME: "SQLite", "Packages": "BerkeleyDB", "Packages.db": "ndb"}

NDB_MAGIC, NDB_SLOT_MAGIC = b"RpmP", b"Slot"
NDB_BLOB_MAGIC, NDB_TAIL_MAGIC = b"BlbS", b"BlbE"
NDB_PAGE, NDB_SLOT, NDB_BLOCK = 4096, 16, 16
NDB_MAX_SLOT_PAGES = 2048  # as go-rpmdb: a bound on what a damaged header can make us read


def header_blobs(path: str, data: bytes) -> list[bytes]:
    """The header blob of every package in the database at `path`."""
    kind = FORMATS[posixpath.basename(path)]
    try:
        if kind == "SQLite":
            return _sqlite_blobs(data)
        if kind == "BerkeleyDB":
            return _berkeley_blobs(data)
        return _ndb_blobs(data)
    except NotInventoried:
        raise
    # The BerkeleyDB reader raises whatever its page parsing meets in a damaged file
    # (EOFError, NotImplementedError for other database types, IndexError, ...): each
    # means the same thing here, an rpmdb this scanner could not read.
    except Exception as exc:
        raise _unreadable(path, kind, f"{type(exc).__name__}: {exc}") from None


def _unreadable(path: str, kind: str, why: str) -> NotInventoried:
    return NotInventoried(
        f"OS packages not inventoried: {path} is an rpmdb in {kind} format that cannot be "
        f"read ({why})"
    )


def _sqlite_blobs(data: bytes) -> list[bytes]:
    connection = sqlite3.connect(":memory:")
    try:
        connection.deserialize(_without_wal(data))
        rows = connection.execute("SELECT blob FROM Packages").fetchall()
    finally:
        connection.close()
    return [bytes(blob) for (blob,) in rows]


def _without_wal(data: bytes) -> bytes:
    """The database with its header's WAL mode (read/write versions 2) set to rollback (1)."""
    if data.startswith(b"SQLite format 3\0") and len(data) >= 100 and data[18:20] == b"\2\2":
        return data[:18] + b"\1\1" + data[20:]
    return data


def _berkeley_blobs(data: bytes) -> list[bytes]:
    database = BerkeleyDB(io.BytesIO(data))
    if not database.is_hash:
        raise ValueError("not a hash database")
    # Keys are header numbers in the host's byte order; 0 is rpm's own bookkeeping record.
    return [bytes(value) for key, value in database.records() if any(bytes(key))]


def _ndb_blobs(data: bytes) -> list[bytes]:
    if len(data) < 32:
        raise ValueError("shorter than its header")
    magic, version, _generation, slot_pages = struct.unpack_from("<4sIII", data, 0)
    if magic != NDB_MAGIC or version != 0:
        raise ValueError(f"no ndb header (magic {magic!r}, version {version})")
    if not 0 < slot_pages <= NDB_MAX_SLOT_PAGES or slot_pages * NDB_PAGE > len(data):
        raise ValueError(f"{slot_pages} slot pages do not fit the file")
    blobs = []
    for offset in range(32, slot_pages * NDB_PAGE, NDB_SLOT):
        slot_magic, index, block, count = struct.unpack_from("<4sIII", data, offset)
        if slot_magic != NDB_SLOT_MAGIC:
            raise ValueError(f"bad slot at byte {offset}")
        if index == 0:
            continue  # a free slot
        start = block * NDB_BLOCK
        if start < slot_pages * NDB_PAGE or start + 16 > len(data):
            raise ValueError(f"package {index}'s blob lies outside the file")
        blob_magic, blob_index, _generation, length = struct.unpack_from("<4sIII", data, start)
        if blob_magic != NDB_BLOB_MAGIC or blob_index != index:
            raise ValueError(f"package {index}'s blob header is damaged")
        tail = start + count * NDB_BLOCK - 12
        if not start + 16 + length <= tail <= len(data) - 12:
            raise ValueError(f"package {index}'s blob is cut short")
        if struct.unpack_from("<I4s", data, tail + 4) != (length, NDB_TAIL_MAGIC):
            raise ValueError(f"package {index}'s blob trailer is damaged")
        blobs.append(data[start + 16 : start + 16 + length])
    return blobs
