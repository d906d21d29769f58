"""Referrers whose subject is absent: kept, never selected, reported after a grace period."""

from __future__ import annotations

import json
import time
from pathlib import Path

from cargohold.meta.db import make_engine, migrate
from cargohold.meta.store import MetadataStore
from cargohold.oci.digests import compute
from cargohold.oci.manifests import parse_manifest
from cargohold.services.holds import HoldService
from cargohold.services.lifecycle import LifecycleService
from cargohold.services.running_images import RunningImages
from tests.support.callers import TESTER_ACTOR
from tests.support.oci import OCI_MANIFEST, manifest_document

EXPIRE_ALL_BUT_ONE = json.dumps(
    {
        "rules": [
            {
                "rulePriority": 1,
                "selection": {
                    "tagStatus": "any",
                    "countType": "imageCountMoreThan",
                    "countNumber": 1,
                },
                "action": {"type": "expire"},
            }
        ]
    }
)


def _push(meta: MetadataStore, document: dict[str, object], tag: str | None) -> str:
    body = json.dumps(document).encode()
    config = b"{}"
    meta.blobs.link("team/app", compute(config), len(config))
    meta.blobs.mark_stored(compute(config))  # the bytes themselves do not matter here
    digest = compute(body)
    meta.manifests.put(
        "team/app", digest, body, parse_manifest(body, OCI_MANIFEST), tag, False, TESTER_ACTOR
    )
    return digest


def test_orphan_referrers_are_kept_and_reported_after_the_grace_period(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'meta.db'}")
    migrate(engine)
    meta = MetadataStore(engine)
    missing_subject = compute(b"a manifest nobody pushed")
    signature = manifest_document(
        b"{}",
        [],
        artifactType="application/vnd.example.signature",
        subject={"mediaType": OCI_MANIFEST, "digest": missing_subject, "size": 10},
    )
    orphan = _push(meta, signature, None)
    for i in range(3):
        _push(meta, manifest_document(b"{}", [], annotations={"i": str(i)}), f"v{i}")

    service = LifecycleService(
        meta.lifecycle_policies,
        meta.repositories,
        meta.listings,
        meta.deletions,
        HoldService(meta.holds),
        orphan_grace_seconds=3600,
        running=RunningImages.of_days(meta.admissions, 30),
    )
    now = time.time()
    fresh = service.preview("team/app", EXPIRE_ALL_BUT_ONE, now)
    assert orphan not in {image.digest for image in fresh.images}
    assert len(fresh.expiring) == 2  # of the three tagged images, never the orphan
    assert fresh.orphan_referrers == []

    later = service.preview("team/app", EXPIRE_ALL_BUT_ONE, now + 7200)
    assert later.orphan_referrers == [orphan]
    assert orphan not in later.deletions
