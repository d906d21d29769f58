"""rpmdbs the real rpm wrote (build_rpm_root), and the formats rpm used before SQLite, from
header blobs the real rpm wrote.

- BerkeleyDB: Berkeley DB's own `db_load` (db5.3-util, the library rpm linked until 4.16)
  writes the hash database, keyed by header number in host byte order, with rpm's record
  0 (the next header number) beside the packages, as rpm's bdb backend keeps `Packages`.
  Debian's rpm reads it back through its `bdb_ro` backend, so the tests can check it.
- ndb: no tool here writes it (Debian builds rpm without the ndb backend), so it is laid
  out exactly as rpm's lib/backend/ndb/rpmpkg.c writes `Packages.db`: header, slot pages,
  then each blob with its header, zero padding and its Adler-32 trailer.
"""

from __future__ import annotations

import shutil
import sqlite3
import struct
import subprocess
import zlib
from pathlib import Path

DB_LOAD = shutil.which("db5.3_load") or shutil.which("db_load")
RPM, RPMBUILD = shutil.which("rpm"), shutil.which("rpmbuild")
RPM_DEFINES = ["--define", "_db_backend sqlite"]
NDB_PAGE, NDB_BLOCK = 4096, 16


def _run(args: list[str]) -> None:
    result = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr


def build_rpm_root(work: Path, specs: dict[str, str], justdb: bool = False) -> list[str]:
    """rpmbuild builds the packages of `specs` under `work`, and the real rpm installs them
    into `work/rootfs`, its database in var/lib/rpm/rpmdb.sqlite (`justdb`: the database
    alone, no files, no scripts either way). Returns the package files rpmbuild wrote."""
    assert RPM is not None and RPMBUILD is not None
    top, root = work / "rpmbuild", work / "rootfs"
    for name, spec in specs.items():
        (work / f"{name}.spec").write_text(spec)
        _run(
            [
                RPMBUILD, "-bb",
                "--define", f"_topdir {top}",
                "--define", "_build_id_links none",
                "--define", "__os_install_post %{nil}",
                str(work / f"{name}.spec"),
            ]
        )  # fmt: skip
    packages = sorted(str(p) for p in (top / "RPMS").rglob("*.rpm"))
    dbpath = root / "var" / "lib" / "rpm"
    dbpath.mkdir(parents=True)
    if justdb:
        _run([RPM, *RPM_DEFINES, "--dbpath", str(dbpath), "-i", "--justdb", "--nodeps", *packages])
    else:
        # Debian's rpm keeps its database in ~/.rpmdb unless told: /var/lib/rpm, as on EL.
        install = [RPM, *RPM_DEFINES, "--root", str(root), "--dbpath", "/var/lib/rpm"]
        _run([*install, "-i", "--nodeps", "--noscripts", *packages])
    return packages


def sqlite_blobs(rpmdb_sqlite: Path) -> list[tuple[int, bytes]]:
    """(header number, header blob) of each package in an rpmdb.sqlite, in order."""
    connection = sqlite3.connect(rpmdb_sqlite)
    try:
        rows = connection.execute("SELECT hnum, blob FROM Packages ORDER BY hnum").fetchall()
    finally:
        connection.close()
    return [(int(hnum), bytes(blob)) for hnum, blob in rows]


def berkeley_packages(blobs: list[tuple[int, bytes]], target: Path) -> Path:
    """`Packages` as a Berkeley DB hash database, written by db_load."""
    assert DB_LOAD is not None
    lines = ["VERSION=3", "format=bytevalue", "type=hash", "db_pagesize=4096", "HEADER=END"]
    next_number = max((hnum for hnum, _ in blobs), default=0) + 1
    records = [(0, struct.pack("<I", next_number)), *blobs]
    for hnum, value in records:
        lines += [" " + struct.pack("<I", hnum).hex(), " " + value.hex()]
    lines.append("DATA=END")
    dump = target.with_suffix(".dump")
    dump.write_text("\n".join(lines) + "\n")
    result = subprocess.run(
        [DB_LOAD, "-f", str(dump), str(target)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    dump.unlink()
    return target


def ndb_packages(blobs: list[tuple[int, bytes]], generation: int = 7) -> bytes:
    """`Packages.db` in rpm's ndb format, one slot page, blobs in header-number order."""
    slot_entries = NDB_PAGE // 16 - 2
    assert len(blobs) <= slot_entries
    next_index = max((hnum for hnum, _ in blobs), default=0) + 1
    header = struct.pack("<4sIIII12x", b"RpmP", 0, generation, 1, next_index)
    slots, area = b"", b""
    block = NDB_PAGE // NDB_BLOCK  # the first block after the slot page
    for hnum, blob in blobs:
        count = (16 + len(blob) + 12 + NDB_BLOCK - 1) // NDB_BLOCK
        head = struct.pack("<4sIII", b"BlbS", hnum, generation, len(blob))
        pad = b"\0" * (count * NDB_BLOCK - (16 + len(blob) + 12))
        checksum = zlib.adler32(head + blob + pad)
        area += head + blob + pad + struct.pack("<II4s", checksum, len(blob), b"BlbE")
        slots += struct.pack("<4sIII", b"Slot", hnum, block, count)
        block += count
    slots += struct.pack("<4sIII", b"Slot", 0, 0, 0) * (slot_entries - len(blobs))
    return header + slots + area
