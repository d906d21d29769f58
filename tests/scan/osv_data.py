"""Helpers for the matcher's tests: the real OSV records under tests/data/osv/."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cargohold.scan.model import Inventory, LayerRef, OSInfo, Package
from cargohold.scan.osv import OsvRecord, normalize_name, parse_record

OSV_DATA = Path(__file__).parents[1] / "data" / "osv"
LAYER = LayerRef(0, "sha256:" + "0" * 64)


def raw(record_id: str) -> dict[str, Any]:
    """A fresh copy of a stored record's JSON object (tests may change it)."""
    return copy.deepcopy(json.loads((OSV_DATA / f"{record_id}.json").read_text()))


def record(record_id: str) -> OsvRecord:
    return parse_record(raw(record_id))


def advisory(
    record_id: str,
    ecosystem: str,
    names: Iterable[str],
    introduced: str,
    fixed: str,
    modified: str = "2024-01-01T00:00:00Z",
    **fields: Any,
) -> OsvRecord:
    """A record made up for a test: each of `names` in `ecosystem` is affected from
    `introduced` until `fixed`; `fields` are further keys (summary, related, upstream)."""
    events = [{"introduced": introduced}, {"fixed": fixed}]
    return parse_record(
        {
            "id": record_id,
            "modified": modified,
            **fields,
            "affected": [
                {
                    "package": {"ecosystem": ecosystem, "name": name},
                    "ranges": [{"type": "ECOSYSTEM", "events": events}],
                }
                for name in names
            ],
        }
    )


def all_records(folder: Path = OSV_DATA) -> list[OsvRecord]:
    return [parse_record(json.loads(p.read_text())) for p in sorted(folder.glob("*.json"))]


class MemorySource:
    """A RecordSource over a list of records, answering as the database store does.

    It records the questions asked, so tests can check the matcher asks the exact
    ecosystem and normalised name, and fetches related records in one batch.
    """

    def __init__(self, records: Iterable[OsvRecord]) -> None:
        self.records = list(records)
        self.asked_for: list[tuple[str, str]] = []
        self.asked_ids: list[list[str]] = []

    def records_for(self, ecosystem: str, name: str) -> list[OsvRecord]:
        self.asked_for.append((ecosystem, name))
        return [
            r
            for r in self.records
            if any(
                a.ecosystem == ecosystem and normalize_name(a.ecosystem, a.name) == name
                for a in r.affected
            )
        ]

    def records_by_ids(self, ids: Iterable[str]) -> list[OsvRecord]:
        wanted = list(ids)
        self.asked_ids.append(wanted)
        return [
            r for r in self.records if r.id in wanted or set(wanted) & {*r.aliases, *r.upstream}
        ]


def package(
    type_: str,
    name: str,
    version: str,
    source_name: str | None = None,
    source_version: str | None = None,
    purl: str = "",
) -> Package:
    return Package(
        type=type_,
        name=name,
        version=version,
        purl=purl or f"pkg:{type_}/{name}@{version}",
        layer=LAYER,
        location="test",
        source_name=source_name,
        source_version=source_version,
    )


def inventory(os: OSInfo | None, *packages: Package) -> Inventory:
    return Inventory(
        digest="sha256:" + "1" * 64, platform=None, os=os, layers=[LAYER], packages=list(packages)
    )


DEBIAN_11 = OSInfo("debian", "11", version_codename="bullseye")
DEBIAN_12 = OSInfo("debian", "12", version_codename="bookworm")
UBUNTU_22_04 = OSInfo("ubuntu", "22.04", version_codename="jammy")
UBUNTU_23_04 = OSInfo("ubuntu", "23.04", version_codename="lunar")
ALPINE_3_18 = OSInfo("alpine", "3.18.6")
ALPINE_3_19 = OSInfo("alpine", "3.19.1")
