"""The admin API's response models (api/models/): the convention of docs/api.md."""

from __future__ import annotations

import msgspec

from cargohold.api.encoding import encode
from cargohold.api.models.jobs import GcReport
from cargohold.api.models.registry import Tag
from cargohold.api.models.scanning import (
    ReevaluationReport,
    ScanJobReport,
    VulnDbImport,
    VulnDbUpdateReport,
)
from cargohold.meta.listings import TagDetail
from cargohold.services.accessories import ImageTrust
from cargohold.services.gc import GcReport as GcFacts
from cargohold.services.scanning import Reevaluation, ScanOutcome
from cargohold.services.vulndb import ImportResult


def test_times_are_rfc3339_utc_with_a_fraction_only_when_there_is_one() -> None:
    tag = Tag.of(
        TagDetail("v1", "sha256:" + "a" * 64, "x", 7, 1796842676.0, 1796842676.25, None),
        ImageTrust(0, ()),
    )
    document = msgspec.json.decode(encode(tag))
    assert document == {
        "tag": "v1",
        "digest": "sha256:" + "a" * 64,
        "mediaType": "x",
        "sizeBytes": 7,
        "pushedAt": "2026-12-09T18:57:56Z",
        "taggedAt": "2026-12-09T18:57:56.250000Z",
        "lastPulledAt": None,
        "signed": False,
        "signatures": 0,
        "accessories": [],
        "verifiedKeys": None,
    }


def test_a_gc_jobs_stored_result_is_the_gc_report_document() -> None:
    """The `gc` job stores `as_record()`; /api/v1/gc streams the GcReport model: one shape."""
    for collectable in (None, 1796842676.5):
        facts = GcFacts(
            dry_run=True,
            grace_seconds=3600,
            blobs=2,
            bytes=300,
            untagged_manifests=1,
            uploads_expired=0,
            admissions_purged=3,
            scan_reports_purged=2,
            analyses_purged=1,
            waiting_blobs=1,
            waiting_bytes=10,
            next_collectable_at=collectable,
            seconds=0.5,
        )
        assert msgspec.to_builtins(GcReport.of(facts)) == facts.as_record()


def test_the_scanning_jobs_stored_results_are_their_report_documents() -> None:
    """`scan`, `reevaluate` and `vulndb-update` jobs store `as_record()`; the admin API
    documents them as ScanJobReport, ReevaluationReport and VulnDbUpdateReport: one shape."""
    for outcome in (
        ScanOutcome("sha256:" + "a" * 64, platforms=2, scanned=1, reused=1, findings=5),
        ScanOutcome("sha256:" + "b" * 64, skipped="not an image", error=None),
    ):
        assert msgspec.to_builtins(ScanJobReport.of(outcome)) == outcome.as_record()
    reevaluation = Reevaluation(reports=4, matched_again=1, seconds=0.125)
    assert msgspec.to_builtins(ReevaluationReport.of(reevaluation)) == reevaluation.as_record()
    imported = ImportResult(
        "osv", "/srv/osv.zip", True, added=2, invalid=1, invalid_messages=["x.json: bad"]
    )
    imported.keys_touched.add(("PyPI", "requests"))
    imported.version, imported.seconds = "7-abc", 1.23456
    document = msgspec.to_builtins(VulnDbImport.of(imported))
    assert document == {**imported.as_record(), "reevaluationJob": None}
    record = {
        "imports": [imported.as_record()],
        "failures": [{"location": "/srv/gone.zip", "error": "no such file"}],
        "reevaluation": reevaluation.as_record(),
    }
    assert msgspec.to_builtins(msgspec.convert(record, VulnDbUpdateReport)) == {
        **record,
        "imports": [document],
    }
