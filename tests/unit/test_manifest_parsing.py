"""parse_manifest: what is refused, and what references are extracted."""

from __future__ import annotations

import json

import pytest

from cargohold.errors import ManifestInvalid
from cargohold.oci.manifests import parse_manifest

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64


def _doc(**fields: object) -> bytes:
    return json.dumps({"schemaVersion": 2, **fields}).encode()


def test_image_references_in_order_and_foreign_layers() -> None:
    body = _doc(
        mediaType="application/vnd.docker.distribution.manifest.v2+json",
        config={"mediaType": "c", "digest": D1, "size": 1},
        layers=[
            {
                "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                "digest": D2,
                "size": 5,
                "urls": ["https://example.invalid/layer"],
            }
        ],
    )
    manifest = parse_manifest(body, None)
    assert [(kind, d.digest) for kind, d in manifest.references()] == [
        ("config", D1),
        ("layer", D2),
    ]
    assert manifest.layers[0].is_foreign
    assert manifest.referrer_artifact_type == "c"


def test_index_without_media_type_is_recognised() -> None:
    manifest = parse_manifest(
        _doc(manifests=[{"mediaType": "m", "digest": D1, "size": 3}]), "application/json"
    )
    assert manifest.is_index
    assert manifest.media_type == "application/vnd.oci.image.index.v1+json"


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"[]", None, "JSON object"),
        (_doc(mediaType="application/vnd.oci.image.manifest.v1+json"), None, "config"),
        (
            json.dumps(
                {
                    "schemaVersion": 3,
                    "mediaType": "application/vnd.oci.image.index.v1+json",
                    "manifests": [],
                }
            ).encode(),
            None,
            "schemaVersion",
        ),
        (_doc(config={"mediaType": "c", "digest": D1, "size": -1}, layers=[]), None, "size"),
        (_doc(config={"mediaType": "c", "digest": D1, "size": 1}, layers={}), None, "layers"),
        (
            _doc(config={"mediaType": "c", "digest": D1, "size": 1}, annotations={"a": 1}),
            None,
            "annotations",
        ),
    ],
)
def test_invalid_manifests(body: bytes, content_type: str | None, message: str) -> None:
    with pytest.raises(ManifestInvalid, match=message):
        parse_manifest(body, content_type)
