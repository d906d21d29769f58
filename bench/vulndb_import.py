"""Vulnerability database import benchmark: OSV records per second.

Writes RECORDS synthetic OSV records shaped like osv.dev's (summary, details, aliases,
severity, ranges, references; ecosystems Debian:12, PyPI, npm, Go and Maven over a pool of
package names) into a zip, as osv.dev exports them, then times, in-process against a scratch
local SQLite database:

- the first import (every record added);
- a re-import of the same zip (every record unchanged);
- an import of the zip with 1% of the records modified later (updated).

Usage: .venv/bin/python bench/vulndb_import.py [--records 100000]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from cargohold.services.vulndb import ImportResult, import_source, open_local

ECOSYSTEMS = ("Debian:12", "PyPI", "npm", "Go", "Maven")
PREFIX = {"Debian:12": "DEBIAN-CVE", "PyPI": "PYSEC", "npm": "GHSA", "Go": "GO", "Maven": "GHSA"}
PARAGRAPH = (
    "A flaw was found in the way the component parses untrusted input. A remote attacker "
    "could use a crafted request to cause a denial of service or possibly execute code. "
)


def _package(ecosystem: str, n: int) -> str:
    if ecosystem == "Go":
        return f"github.com/example{n % 97}/module{n}"
    if ecosystem == "Maven":
        return f"org.example{n % 89}:artifact-{n}"
    return f"package-{n}"


def synthetic_record(n: int, modified: str, rng: random.Random) -> dict[str, Any]:
    ecosystem = ECOSYSTEMS[n % len(ECOSYSTEMS)]
    cve = f"CVE-{2015 + n % 10}-{10000 + n}"
    affected = []
    for _ in range(1 + (n % 3 == 0)):
        affected.append(
            {
                "package": {
                    "ecosystem": ecosystem,
                    "name": _package(ecosystem, rng.randrange(20000)),
                },
                "ranges": [
                    {
                        "type": "ECOSYSTEM",
                        "events": [
                            {"introduced": "0"},
                            {"fixed": f"{rng.randrange(1, 9)}.{rng.randrange(20)}.{n % 50}"},
                        ],
                    }
                ],
                "database_specific": {"source": "synthetic"},
            }
        )
    record: dict[str, Any] = {
        "schema_version": "1.6.0",
        "id": f"{PREFIX[ecosystem]}-{n:07d}",
        "modified": modified,
        "published": "2023-01-01T00:00:00Z",
        "summary": f"synthetic advisory {n} in {ecosystem}",
        "details": PARAGRAPH * (1 + n % 4),
        "affected": affected,
        "references": [
            {"type": "ADVISORY", "url": f"https://security.example.test/{cve}"},
            {"type": "WEB", "url": f"https://tracker.example.test/issues/{n}"},
        ],
    }
    if ecosystem == "Debian:12":
        record["upstream"] = [cve]
    else:
        record["aliases"] = [cve]
        record["severity"] = [
            {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}
        ]
    return record


def write_export(path: Path, records: int, updated_every: int = 0) -> None:
    rng = random.Random(42)  # the same packages in every export
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for n in range(records):
            newer = updated_every and n % updated_every == 0
            modified = "2024-06-01T00:00:00Z" if newer else "2024-01-01T00:00:00Z"
            record = synthetic_record(n, modified, rng)
            archive.writestr(f"{record['id']}.json", json.dumps(record, indent=2))


def _row(label: str, result: ImportResult, wall: float) -> str:
    rate = result.records / wall if wall else 0.0
    return (
        f"| {label} | {result.records:,} | {result.added:,} | {result.updated:,} | "
        f"{result.unchanged:,} | {wall:.2f} | {rate:,.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="cargohold-vulndb-bench-"))
    try:
        started = time.perf_counter()
        export = root / "all.zip"
        write_export(export, args.records)
        changed = root / "changed" / "all.zip"
        changed.parent.mkdir()
        write_export(changed, args.records, updated_every=100)
        print(
            f"wrote 2 exports of {args.records:,} records "
            f"({export.stat().st_size / 2**20:.1f} MiB zipped) in "
            f"{time.perf_counter() - started:.1f} s"
        )
        store = open_local(root / "db")
        rows = []
        for label, path in (
            ("first import", export),
            ("re-import, unchanged", export),
            ("re-import, 1% newer", changed),
        ):
            started = time.perf_counter()
            result = import_source(store, str(path), "bench", full=False)
            rows.append(_row(label, result, time.perf_counter() - started))
        status = store.status()
        size = sum(p.stat().st_size for p in (root / "db").iterdir())
        print()
        print("| import | records | added | updated | unchanged | seconds | records/s |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        print("\n".join(rows))
        print()
        print(
            f"database: {status.records:,} records, {status.packages:,} packages, "
            f"{size / 2**20:.0f} MiB on disk"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
