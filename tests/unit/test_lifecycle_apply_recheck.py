"""Lifecycle apply is compare-and-delete: what changed since the evaluation is kept and reported.

Evaluation and deletion are called separately (as apply() does in one go) so that a push, a
hold or a delete lands exactly between them, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json

import pytest

from cargohold.meta.audit import AuditFilter
from cargohold.meta.holds import HoldRow
from cargohold.meta.store import MetadataStore
from cargohold.oci.digests import compute
from cargohold.oci.manifests import parse_manifest
from cargohold.services.holds import HoldService
from cargohold.services.lifecycle import LifecyclePreview, LifecycleService
from cargohold.services.running_images import RunningImages
from tests.support.callers import TESTER, TESTER_ACTOR
from tests.support.oci import OCI_INDEX, OCI_MANIFEST, manifest_document

REPO = "team/app"
# Keep the newest image; expire every other one.
KEEP_ONE = json.dumps(
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


def _body(document: dict[str, object]) -> bytes:
    return json.dumps(document).encode()


def _push(meta: MetadataStore, body: bytes, tag: str | None, media_type: str = OCI_MANIFEST) -> str:
    config = b"{}"
    meta.blobs.link(REPO, compute(config), len(config))
    meta.blobs.mark_stored(compute(config))  # the bytes themselves do not matter here
    digest = compute(body)
    meta.manifests.put(
        REPO, digest, body, parse_manifest(body, media_type), tag, False, TESTER_ACTOR
    )
    return digest


def _image(meta: MetadataStore, n: int, tag: str | None) -> tuple[str, bytes]:
    body = _body(manifest_document(b"{}", [], annotations={"n": str(n)}))
    return _push(meta, body, tag), body


def _evaluate(meta: MetadataStore) -> tuple[LifecycleService, LifecyclePreview]:
    service = LifecycleService(
        meta.lifecycle_policies,
        meta.repositories,
        meta.listings,
        meta.deletions,
        HoldService(meta.holds),
        running=RunningImages.of_days(meta.admissions, 30),
    )
    preview = service.preview(REPO, KEEP_ONE)
    return service, preview


def _exists(meta: MetadataStore, digest: str) -> bool:
    return meta.manifests.find(REPO, digest, by_digest=True) is not None


def test_a_tag_pushed_after_the_evaluation_keeps_the_image(meta: MetadataStore) -> None:
    old, old_body = _image(meta, 1, "v1")
    other, _ = _image(meta, 2, "v2")
    _image(meta, 3, "v3")
    service, preview = _evaluate(meta)
    assert {i.digest for i in preview.expiring} == {old, other}

    meta.manifests.put(
        REPO, old, old_body, parse_manifest(old_body, OCI_MANIFEST), "release", False, TESTER_ACTOR
    )
    applied = service.delete_expiring(preview, TESTER)

    assert _exists(meta, old)
    assert meta.tags.of_manifest(REPO, old) == ["release", "v1"]
    assert [(s.digest, s.reason) for s in applied.skipped] == [(old, "tags changed")]
    assert applied.deleted_images == [other] and applied.deleted == 1
    assert not _exists(meta, other)


def test_a_tag_removed_after_the_evaluation_keeps_the_image(meta: MetadataStore) -> None:
    old, _ = _image(meta, 1, "v1")
    _image(meta, 2, "v2")
    service, preview = _evaluate(meta)
    assert meta.tags.delete(REPO, "v1", TESTER_ACTOR)
    applied = service.delete_expiring(preview, TESTER)
    assert _exists(meta, old)
    assert [(s.digest, s.reason) for s in applied.skipped] == [(old, "tags changed")]


@pytest.mark.parametrize("scope", ["image", "repository", "project"])
def test_a_hold_added_after_the_evaluation_keeps_the_image(meta: MetadataStore, scope: str) -> None:
    old, _ = _image(meta, 1, "v1")
    _image(meta, 2, "v2")
    service, preview = _evaluate(meta)
    assert [i.digest for i in preview.expiring] == [old]

    target = {"image": REPO, "repository": REPO, "project": "team"}[scope]
    digest = old if scope == "image" else None
    hold_id = meta.holds.add(HoldRow(0, scope, target, digest, "incident", None), TESTER_ACTOR)
    applied = service.delete_expiring(preview, TESTER)

    assert _exists(meta, old)
    assert [(s.digest, s.reason) for s in applied.skipped] == [(old, f"held by hold {hold_id}")]
    assert applied.deleted == 0 and applied.deleted_images == []


def test_holds_of_other_images_and_ended_holds_do_not_keep_it(meta: MetadataStore) -> None:
    old, _ = _image(meta, 1, "v1")
    newest, _ = _image(meta, 2, "v2")
    service, preview = _evaluate(meta)
    meta.holds.add(HoldRow(0, "image", REPO, newest, "other image", None), TESTER_ACTOR)
    meta.holds.add(HoldRow(0, "repository", "team/other", None, "other repo", None), TESTER_ACTOR)
    meta.holds.add(HoldRow(0, "repository", REPO, None, "ended", 1.0), TESTER_ACTOR)
    applied = service.delete_expiring(preview, TESTER)
    assert applied.deleted_images == [old] and applied.skipped == []
    assert not _exists(meta, old)


def test_an_image_pushed_again_after_the_evaluation_is_kept(meta: MetadataStore) -> None:
    old, old_body = _image(meta, 1, "v1")
    _image(meta, 2, "v2")
    service, preview = _evaluate(meta)

    # Deleted and pushed again under the same tag: same digest and tags, a new push time.
    assert meta.manifests.delete(REPO, old, TESTER_ACTOR)
    meta.manifests.put(
        REPO, old, old_body, parse_manifest(old_body, OCI_MANIFEST), "v1", False, TESTER_ACTOR
    )
    applied = service.delete_expiring(preview, TESTER)

    assert _exists(meta, old)
    assert [(s.digest, s.reason) for s in applied.skipped] == [(old, "pushed again")]


def test_an_image_deleted_after_the_evaluation_is_reported_gone(meta: MetadataStore) -> None:
    old, _ = _image(meta, 1, "v1")
    _image(meta, 2, "v2")
    service, preview = _evaluate(meta)
    assert meta.manifests.delete(REPO, old, TESTER_ACTOR)
    applied = service.delete_expiring(preview, TESTER)
    assert [(s.digest, s.reason) for s in applied.skipped] == [(old, "already gone")]
    assert applied.deleted == 0


def test_what_goes_with_a_skipped_image_stays_with_it(meta: MetadataStore) -> None:
    """An expiring index whose tags changed keeps its children; its own referrer too."""
    children = [_image(meta, 10 + i, None) for i in range(2)]
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": d, "size": len(b)} for d, b in children
        ],
    }
    index_body = _body(index)
    index_digest = _push(meta, index_body, "multi", OCI_INDEX)
    signature = _body(
        manifest_document(
            b"{}",
            [],
            artifactType="application/vnd.example.signature",
            subject={"mediaType": OCI_INDEX, "digest": index_digest, "size": len(index_body)},
        )
    )
    signature_digest = _push(meta, signature, None)
    _image(meta, 99, "newest")
    service, preview = _evaluate(meta)
    (expiring,) = preview.expiring
    assert expiring.digest == index_digest
    assert set(expiring.dependents) == {children[0][0], children[1][0], signature_digest}

    meta.manifests.put(
        REPO,
        index_digest,
        index_body,
        parse_manifest(index_body, OCI_INDEX),
        "x",
        False,
        TESTER_ACTOR,
    )
    applied = service.delete_expiring(preview, TESTER)

    assert [(s.digest, s.reason) for s in applied.skipped] == [(index_digest, "tags changed")]
    for digest in (index_digest, signature_digest, *(d for d, _ in children)):
        assert _exists(meta, digest)


def test_a_child_tagged_after_the_evaluation_stays_while_its_index_goes(
    meta: MetadataStore,
) -> None:
    (kept, kept_body), (other, other_body) = (_image(meta, 10 + i, None) for i in range(2))
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": d, "size": len(b)}
            for d, b in ((kept, kept_body), (other, other_body))
        ],
    }
    index_digest = _push(meta, _body(index), "multi", OCI_INDEX)
    _image(meta, 99, "newest")
    service, preview = _evaluate(meta)
    assert [i.digest for i in preview.expiring] == [index_digest]

    meta.manifests.put(
        REPO, kept, kept_body, parse_manifest(kept_body, OCI_MANIFEST), "child", False, TESTER_ACTOR
    )
    applied = service.delete_expiring(preview, TESTER)

    assert [(s.digest, s.reason) for s in applied.skipped] == [(kept, "tags changed")]
    assert applied.deleted_images == [index_digest] and applied.deleted == 2
    assert _exists(meta, kept) and not _exists(meta, other) and not _exists(meta, index_digest)


def test_every_deletion_is_audited_with_its_rule(meta: MetadataStore) -> None:
    old, _ = _image(meta, 1, "v1")
    _image(meta, 2, "v2")
    service, preview = _evaluate(meta)
    service.delete_expiring(preview, TESTER)
    events = [
        e for e in meta.audit_log.page(AuditFilter(), None, 20) if e.action == "manifest.delete"
    ]
    assert [(e.target, e.detail) for e in events] == [
        (f"{REPO}@{old}", {"reason": "lifecycle policy", "rulePriority": 1})
    ]
    # Who asked, from where, and what was deleted, in fields of their own.
    assert [(e.actor, e.method, e.address, e.repository, e.project, e.digest) for e in events] == [
        ("tester", "password", "192.0.2.1", REPO, "team", old)
    ]


def test_an_image_an_index_pushed_after_the_evaluation_lists_is_kept(
    meta: MetadataStore,
) -> None:
    old, old_body = _image(meta, 1, "v1")
    _image(meta, 2, "v2")
    service, preview = _evaluate(meta)
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": old, "size": len(old_body)}],
    }
    index_digest = _push(meta, _body(index), "multi", OCI_INDEX)
    applied = service.delete_expiring(preview, TESTER)
    assert [(s.digest, s.reason) for s in applied.skipped] == [(old, f"listed by {index_digest}")]
    assert _exists(meta, old)


def test_a_referrer_of_a_child_that_stays_stays_with_it(meta: MetadataStore) -> None:
    (child, child_body), (other, other_body) = (_image(meta, 10 + i, None) for i in range(2))
    signature = _body(
        manifest_document(
            b"{}",
            [],
            artifactType="application/vnd.example.signature",
            subject={"mediaType": OCI_MANIFEST, "digest": child, "size": len(child_body)},
        )
    )
    signature_digest = _push(meta, signature, None)
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": d, "size": len(b)}
            for d, b in ((child, child_body), (other, other_body))
        ],
    }
    index_digest = _push(meta, _body(index), "multi", OCI_INDEX)
    _image(meta, 99, "newest")
    service, preview = _evaluate(meta)
    (expiring,) = preview.expiring
    assert set(expiring.dependents) == {child, other, signature_digest}

    meta.manifests.put(
        REPO,
        child,
        child_body,
        parse_manifest(child_body, OCI_MANIFEST),
        "child",
        False,
        TESTER_ACTOR,
    )
    applied = service.delete_expiring(preview, TESTER)

    assert sorted((s.digest, s.reason) for s in applied.skipped) == sorted(
        [(child, "tags changed"), (signature_digest, f"kept with {child}")]
    )
    assert _exists(meta, child) and _exists(meta, signature_digest)
    assert not _exists(meta, index_digest) and not _exists(meta, other)
