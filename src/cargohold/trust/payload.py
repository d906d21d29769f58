"""The simple-signing payload: what a cosign signature covers.

    {"critical": {"identity": {"docker-reference": "HOST/team/app"},
                  "image": {"docker-manifest-digest": "sha256:..."},
                  "type": "cosign container image signature"},
     "optional": {"env": "prod"}}

Written as cosign writes it (its Go structs' field order, no spaces, `"optional": null`
without annotations). Read as containers-signature(5) asks: exactly `critical` and `optional`
at the top, every member of `critical` known, unknown `optional` members kept. The manifest
digest key is compared case-insensitively (the cosign spec's example spells it
`Docker-manifest-digest`). cosign ignores `docker-reference`; it is reported, not checked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from cargohold.parsing.json_document import JsonInvalid, load_json
from cargohold.trust.formats import COSIGN_SIGNATURE_TYPE


class PayloadInvalid(ValueError):
    """A payload that is not a simple-signing document; the message says why."""


@dataclass(frozen=True)
class SimpleSigning:
    docker_reference: str
    manifest_digest: str
    type: str
    optional: dict[str, Any] = field(default_factory=dict)

    def annotations(self) -> dict[str, str]:
        """The `optional` members that are strings (where `cosign sign -a` puts its pairs)."""
        return {k: v for k, v in self.optional.items() if isinstance(v, str)}


def build_payload(
    docker_reference: str, manifest_digest: str, annotations: dict[str, str] | None = None
) -> bytes:
    """The payload bytes `cosign sign` writes for the image."""
    document = {
        "critical": {
            "identity": {"docker-reference": docker_reference},
            "image": {"docker-manifest-digest": manifest_digest},
            "type": COSIGN_SIGNATURE_TYPE,
        },
        # Go's encoding/json writes map keys sorted, and a nil map as null.
        "optional": dict(sorted(annotations.items())) if annotations else None,
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PayloadInvalid(f"{where} is not a JSON object")
    return value


def _only(document: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(document) - allowed)
    if unknown:
        raise PayloadInvalid(f"{where} has an unknown member {unknown[0]!r}")


def _string(document: dict[str, Any], name: str, where: str) -> str:
    value = document.get(name)
    if not isinstance(value, str):
        raise PayloadInvalid(f"{where}.{name} is missing or not a string")
    return value


def parse_payload(data: bytes) -> SimpleSigning:
    try:
        document = _object(load_json(data), "the payload")
    except JsonInvalid as exc:
        raise PayloadInvalid(f"the payload is not JSON: {exc}") from None
    _only(document, {"critical", "optional"}, "the payload")
    critical = _object(document.get("critical"), "critical")
    _only(critical, {"identity", "image", "type"}, "critical")
    identity = _object(critical.get("identity"), "critical.identity")
    _only(identity, {"docker-reference"}, "critical.identity")
    image = _object(critical.get("image"), "critical.image")
    digests = [key for key in image if key.lower() == "docker-manifest-digest"]
    if len(digests) != 1 or len(image) != 1:
        raise PayloadInvalid("critical.image must hold exactly docker-manifest-digest")
    optional = document.get("optional")
    if optional is not None:
        optional = _object(optional, "optional")
    return SimpleSigning(
        docker_reference=_string(identity, "docker-reference", "critical.identity"),
        manifest_digest=_string(image, digests[0], "critical.image"),
        type=_string(critical, "type", "critical"),
        optional=optional or {},
    )
