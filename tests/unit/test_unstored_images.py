"""Scan reports, findings and analyses of images no repository stores any more are deleted
by garbage collection; those of images still stored somewhere, and those made after the
cutoff, stay."""

from __future__ import annotations

import json
import time

from cargohold.meta.scans import ScanStore
from cargohold.meta.store import MetadataStore
from cargohold.oci.digests import compute
from cargohold.oci.manifests import parse_manifest
from tests.support.callers import TESTER_ACTOR
from tests.support.oci import OCI_MANIFEST, manifest_document

FINDING = ("CVE-2026-0001", "deb:openssl", 1, ("CVE-2026-0001",), True, {"summary": "x"})


def _push(meta: MetadataStore, repository: str, layer: bytes) -> str:
    config = b"{}"
    for blob in (config, layer):  # the bytes themselves do not matter here
        meta.blobs.link(repository, compute(blob), len(blob))
        meta.blobs.mark_stored(compute(blob))
    body = json.dumps(manifest_document(config, [layer])).encode()
    digest = compute(body)
    meta.manifests.put(
        repository, digest, body, parse_manifest(body, OCI_MANIFEST), None, False, TESTER_ACTOR
    )
    return digest


def _records(meta: MetadataStore, digest: str) -> tuple[bool, int, bool]:
    scans = ScanStore(meta.db)
    return (
        scans.report(digest) is not None,
        scans.finding_count(digest),
        meta.analyses.get(digest) is not None,
    )


def test_records_of_images_no_repository_stores_are_purged(meta: MetadataStore) -> None:
    scans = ScanStore(meta.db)
    gone = _push(meta, "team/app", b"gone")
    shared = _push(meta, "team/app", b"shared")
    assert _push(meta, "team/other", b"shared") == shared
    for digest in (gone, shared):
        scans.save_report(
            digest, inventory=[], db_version="1", findings=[FINDING], blocking_problem=None
        )
        meta.analyses.put(digest, 1, time.time(), b"{}")
    # Only reports and analyses, never an image: nothing stores this digest.
    never_stored = compute(b"scanned, then deleted before anyone looked")
    scans.save_report(
        never_stored, inventory=[], db_version="1", findings=[], blocking_problem=None
    )

    deleted = meta.deletions.delete_untagged_manifests("team/app", [gone, shared], TESTER_ACTOR)
    assert deleted == 2
    assert _records(meta, gone) == (True, 1, True)

    # Made after the cutoff: kept (a scan that finished after its image went waits a run).
    early = meta.unstored_images.purge(time.time() - 3600)
    assert (early.reports, early.analyses) == (0, 0)
    assert _records(meta, gone) == (True, 1, True)

    purged = meta.unstored_images.purge(time.time() + 1, batch=1)
    assert (purged.reports, purged.analyses) == (2, 1)
    assert _records(meta, gone) == (False, 0, False)
    assert scans.report(never_stored) is None
    # team/other still stores it.
    assert _records(meta, shared) == (True, 1, True)
    again = meta.unstored_images.purge(time.time() + 1)
    assert (again.reports, again.analyses) == (0, 0)
