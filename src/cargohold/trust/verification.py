"""Checking the signatures discovery found against trusted public keys.

Each candidate gets one verdict with its reason:
- `valid`: signed by one of the keys, for this very image digest, with the annotations asked
  for;
- `annotations`: a valid signature whose annotations differ from those asked for;
- `invalid`: tampered payload, wrong key, another image's digest, malformed, ...;
- `keyless`: made with a Fulcio certificate (sigstore's keyless signing), which needs
  Fulcio's roots and Rekor to verify: reported as such, never counted as valid offline;
- `not-a-signature`: a bundle that attests something else (an in-toto predicate other than
  cosign's signature).
An image passes when at least one signature is `valid`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from cargohold.oci.digests import compute, is_valid_digest
from cargohold.trust.bundles import (
    BundleInvalid,
    certificate_identity,
    pae,
    parse_bundle,
    parse_statement,
    pem_certificate,
)
from cargohold.trust.discovery import Candidate, Kind, Shape, SignatureSource, discover
from cargohold.trust.formats import (
    CERTIFICATE_ANNOTATIONS,
    COSIGN_SIGNATURE_TYPE,
    SIGN_PREDICATE,
    SIGNATURE_ANNOTATION,
)
from cargohold.trust.keys import PublicKey, key_id, verifies
from cargohold.trust.payload import PayloadInvalid, parse_payload

# Larger layers are refused unread: a payload is a few hundred bytes, a bundle a few KiB.
MAX_PAYLOAD_BYTES = 1 << 20
MAX_BUNDLE_BYTES = 4 << 20


class Status(StrEnum):
    VALID = "valid"
    ANNOTATIONS = "annotations"
    INVALID = "invalid"
    KEYLESS = "keyless"
    NOT_A_SIGNATURE = "not-a-signature"


@dataclass(frozen=True)
class TrustedKey:
    """A public key signatures are checked against; `name` is how the report calls it."""

    name: str
    key: PublicKey

    @property
    def id(self) -> str:
        return key_id(self.key)


@dataclass(frozen=True)
class SignatureCheck:
    shape: Shape
    location: str
    layer_index: int
    kind: Kind
    status: Status
    reason: str
    key: TrustedKey | None = None
    docker_reference: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "shape": self.shape.value,
            "location": self.location,
            "layer": self.layer_index,
            "kind": self.kind.value,
            "status": self.status.value,
            "reason": self.reason,
            "key": None if self.key is None else {"name": self.key.name, "id": self.key.id},
            "dockerReference": self.docker_reference,
            "annotations": self.annotations,
        }


@dataclass
class VerificationReport:
    subject: str
    checks: list[SignatureCheck] = field(default_factory=list)
    looked_at: list[str] = field(default_factory=list)

    @property
    def valid(self) -> list[SignatureCheck]:
        return [check for check in self.checks if check.status is Status.VALID]

    @property
    def passed(self) -> bool:
        return bool(self.valid)

    def as_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "verified": self.passed,
            "lookedAt": self.looked_at,
            "signatures": [check.as_json() for check in self.checks],
        }


class _Refused(Exception):
    """A candidate's verdict decided before the end of its checks."""

    def __init__(self, status: Status, reason: str, **extra: Any) -> None:
        super().__init__(reason)
        self.status, self.reason, self.extra = status, reason, extra


def _payload_bytes(source: SignatureSource, layer: dict[str, Any], limit: int) -> bytes:
    digest, size = layer.get("digest"), layer.get("size")
    if (
        not isinstance(digest, str)
        or not digest.startswith("sha256:")
        or not is_valid_digest(digest)
    ):
        raise _Refused(Status.INVALID, "the layer has no sha256 digest")
    if isinstance(size, int) and size > limit:
        raise _Refused(Status.INVALID, f"the layer is {size} bytes, more than {limit} allowed")
    data = source.blob(digest)
    if len(data) > limit:
        raise _Refused(Status.INVALID, f"the layer is more than {limit} bytes")
    if compute(data) != digest:
        raise _Refused(Status.INVALID, "the payload does not match its digest (tampered)")
    return data


def _signed_by(keys: list[TrustedKey], signatures: list[bytes], data: bytes) -> TrustedKey | None:
    for trusted in keys:
        if any(verifies(trusted.key, signature, data) for signature in signatures):
            return trusted
    return None


def _no_key_matches(keys: list[TrustedKey]) -> str:
    if len(keys) == 1:
        return f"the signature does not match the key {keys[0].name}"
    return f"the signature matches none of the {len(keys)} keys"


def _check_subject(signed: str, subject: str) -> None:
    if signed != subject:
        raise _Refused(
            Status.INVALID, f"signs another image ({signed}), not {subject} (moved tag?)"
        )


def _check_annotations(have: Mapping[str, str], required: Mapping[str, str]) -> None:
    for name, wanted in sorted(required.items()):
        if name not in have:
            raise _Refused(Status.ANNOTATIONS, f"annotation {name} is missing (wanted {wanted!r})")
        if have[name] != wanted:
            raise _Refused(
                Status.ANNOTATIONS, f"annotation {name} is {have[name]!r}, not {wanted!r}"
            )


def _simple_signing(
    source: SignatureSource,
    candidate: Candidate,
    subject: str,
    keys: list[TrustedKey],
    required: Mapping[str, str],
) -> tuple[str, TrustedKey | None, dict[str, Any]]:
    annotations = candidate.layer.get("annotations")
    annotations = annotations if isinstance(annotations, dict) else {}
    encoded = annotations.get(SIGNATURE_ANNOTATION)
    if not isinstance(encoded, str) or not encoded:
        raise _Refused(Status.INVALID, f"the layer has no {SIGNATURE_ANNOTATION} annotation")
    try:
        signature = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise _Refused(Status.INVALID, "the signature annotation is not base64") from None
    data = _payload_bytes(source, candidate.layer, MAX_PAYLOAD_BYTES)
    signer = _signed_by(keys, [signature], data)
    try:
        payload = parse_payload(data)
    except PayloadInvalid as exc:
        raise _Refused(Status.INVALID, str(exc)) from None
    extra = {"docker_reference": payload.docker_reference, "annotations": payload.annotations()}
    if signer is None:
        certificate = next(
            (annotations[name] for name in CERTIFICATE_ANNOTATIONS if name in annotations), None
        )
        if not isinstance(certificate, str):
            raise _Refused(Status.INVALID, _no_key_matches(keys), **extra)
        _check_subject(payload.manifest_digest, subject)
        der = pem_certificate(certificate)
        who = certificate_identity(der) if der else "an unreadable certificate"
        raise _Refused(
            Status.KEYLESS, f"keyless, certificate for {who}: not verified offline", **extra
        )
    if payload.type != COSIGN_SIGNATURE_TYPE:
        raise _Refused(Status.INVALID, f"critical.type is {payload.type!r}", **extra)
    try:
        _check_subject(payload.manifest_digest, subject)
        _check_annotations(payload.annotations(), required)
    except _Refused as refused:
        refused.extra = {**extra, "key": signer}
        raise
    return f"signed by {signer.name} ({signer.id})", signer, extra


def _bundle_subject(signed: list[str], subject: str, extra: dict[str, Any]) -> None:
    if subject not in signed:
        listed = ", ".join(signed) or "nothing"
        raise _Refused(Status.INVALID, f"signs {listed}, not {subject} (moved tag?)", **extra)


def _bundle(
    source: SignatureSource,
    candidate: Candidate,
    subject: str,
    keys: list[TrustedKey],
    required: Mapping[str, str],
) -> tuple[str, TrustedKey | None, dict[str, Any]]:
    data = _payload_bytes(source, candidate.layer, MAX_BUNDLE_BYTES)
    try:
        bundle = parse_bundle(data)
        if bundle.content != "dsse_envelope":
            raise _Refused(Status.INVALID, "a message-signature bundle signs a blob, not an image")
        statement = parse_statement(bundle.payload_type, bundle.payload)
    except BundleInvalid as exc:
        raise _Refused(Status.INVALID, str(exc)) from None
    extra: dict[str, Any] = {"annotations": statement.annotations}
    if statement.predicate_type != SIGN_PREDICATE:
        raise _Refused(
            Status.NOT_A_SIGNATURE,
            f"an attestation ({statement.predicate_type}), not a signature",
            **extra,
        )
    if bundle.material != "public_key":
        _bundle_subject(statement.subject_digests, subject, extra)
        who = certificate_identity(bundle.certificate_der) if bundle.certificate_der else "?"
        raise _Refused(
            Status.KEYLESS, f"keyless, certificate for {who}: not verified offline", **extra
        )
    signer = _signed_by(keys, bundle.signatures, pae(bundle.payload_type, bundle.payload))
    if signer is None:
        raise _Refused(Status.INVALID, _no_key_matches(keys), **extra)
    extra["key"] = signer
    _bundle_subject(statement.subject_digests, subject, extra)
    try:
        _check_annotations(statement.annotations, required)
    except _Refused as refused:
        refused.extra = extra
        raise
    del extra["key"]
    note = " (its transparency log entry is not checked offline)" if bundle.tlog_entries else ""
    return f"signed by {signer.name} ({signer.id}){note}", signer, extra


def check_candidate(
    source: SignatureSource,
    candidate: Candidate,
    subject: str,
    keys: list[TrustedKey],
    required: Mapping[str, str] | None = None,
) -> SignatureCheck:
    """The verdict on one candidate signature of the image `subject`."""
    check = _simple_signing if candidate.kind is Kind.SIMPLE_SIGNING else _bundle
    common = {
        "shape": candidate.shape,
        "location": candidate.location,
        "layer_index": candidate.layer_index,
        "kind": candidate.kind,
    }
    try:
        reason, signer, extra = check(source, candidate, subject, keys, required or {})
    except _Refused as refused:
        return SignatureCheck(
            **common, status=refused.status, reason=refused.reason, **refused.extra
        )
    return SignatureCheck(**common, status=Status.VALID, reason=reason, key=signer, **extra)


def verify_image(
    source: SignatureSource,
    subject: str,
    keys: list[TrustedKey],
    required: Mapping[str, str] | None = None,
) -> VerificationReport:
    """Every signature of the image `subject` (a digest) the source holds, each checked
    against `keys`. Raises SourceError when the registry cannot be read."""
    found = discover(source, subject)
    report = VerificationReport(subject, looked_at=found.looked_at)
    for candidate in found.candidates:
        report.checks.append(check_candidate(source, candidate, subject, keys, required))
    return report
