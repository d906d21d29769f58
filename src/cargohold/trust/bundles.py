"""Sigstore bundles (v0.3, cosign v3's default signature): parsed with the sigstore protobuf
models (PyPI `sigstore-protobuf-specs`), checked here.

A cosign v3 image signature is a bundle whose content is a DSSE envelope over an in-toto
statement: `predicateType` https://sigstore.dev/cosign/sign/v1, `subject` the image's
digest. Its verification material is a public key hint (signed with a key) or a Fulcio
certificate (keyless). The `sigstore` package itself refuses bundles without a certificate,
so it cannot read key-signed ones; the protobuf models can.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cargohold.parsing.json_document import JsonInvalid, load_json
from cargohold.trust.formats import (
    IN_TOTO_PAYLOAD_TYPE,
    IN_TOTO_STATEMENTS,
    SIGN_PREDICATE,
    SIGSTORE_BUNDLE_TYPES,
)

FULCIO_ISSUER_OIDS = ("1.3.6.1.4.1.57264.1.1", "1.3.6.1.4.1.57264.1.8")


class BundleInvalid(ValueError):
    """Not a bundle this engine can read; the message says why."""


@dataclass(frozen=True)
class ParsedBundle:
    media_type: str
    # "public_key", "certificate" or "x509_certificate_chain" (the models' oneof names).
    material: str
    key_hint: str
    certificate_der: bytes | None
    # "dsse_envelope" or "message_signature".
    content: str
    payload_type: str = ""
    payload: bytes = b""
    signatures: list[bytes] = field(default_factory=list)
    tlog_entries: int = 0


def parse_bundle(data: bytes) -> ParsedBundle:
    import betterproto
    from sigstore_protobuf_specs.dev.sigstore.bundle.v1 import Bundle

    try:
        document = load_json(data)
    except JsonInvalid as exc:
        raise BundleInvalid(f"the bundle is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise BundleInvalid("the bundle is not a JSON object")
    try:
        bundle = Bundle.from_dict(document)
        material, value = betterproto.which_one_of(bundle.verification_material, "content")
        content, _ = betterproto.which_one_of(bundle, "content")
    # The models raise pydantic's, betterproto's and base64's errors for a malformed bundle.
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BundleInvalid(f"not a sigstore bundle: {first[:200]}") from None
    if bundle.media_type not in SIGSTORE_BUNDLE_TYPES:
        raise BundleInvalid(f"unsupported bundle media type {bundle.media_type!r}")
    certificate: bytes | None = None
    if material == "certificate":
        certificate = value.raw_bytes
    elif material == "x509_certificate_chain" and value.certificates:
        certificate = value.certificates[0].raw_bytes
    parsed = ParsedBundle(
        media_type=bundle.media_type,
        material=material or "",
        key_hint=value.hint if material == "public_key" else "",
        certificate_der=certificate,
        content=content or "",
        tlog_entries=len(bundle.verification_material.tlog_entries or []),
    )
    if content == "dsse_envelope":
        envelope = bundle.dsse_envelope
        return ParsedBundle(
            **{
                **parsed.__dict__,
                "payload_type": envelope.payload_type,
                "payload": envelope.payload,
                "signatures": [signature.sig for signature in envelope.signatures],
            }
        )
    return parsed


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what a DSSE signature covers."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


@dataclass(frozen=True)
class SignStatement:
    """What a cosign v3 image signature states: the image's digests and annotations."""

    predicate_type: str
    subject_digests: list[str]
    annotations: dict[str, str]


def _strings(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}


def parse_statement(payload_type: str, payload: bytes) -> SignStatement:
    if payload_type != IN_TOTO_PAYLOAD_TYPE:
        raise BundleInvalid(f"the envelope's payload type is {payload_type!r}, not in-toto")
    try:
        statement = load_json(payload)
    except JsonInvalid as exc:
        raise BundleInvalid(f"the in-toto statement is not JSON: {exc}") from None
    if not isinstance(statement, dict) or statement.get("_type") not in IN_TOTO_STATEMENTS:
        raise BundleInvalid("the payload is not an in-toto statement")
    subjects = statement.get("subject")
    if not isinstance(subjects, list):
        raise BundleInvalid("the in-toto statement has no subject list")
    digests: list[str] = []
    annotations: dict[str, str] = {}
    for subject in subjects:
        if not isinstance(subject, dict):
            continue
        for algorithm, value in _strings(subject.get("digest")).items():
            digests.append(f"{algorithm}:{value}")
        annotations.update(_strings(subject.get("annotations")))
    predicate_type = statement.get("predicateType")
    if not isinstance(predicate_type, str):
        raise BundleInvalid("the in-toto statement has no predicateType")
    if predicate_type == SIGN_PREDICATE:
        annotations.update(_strings(statement.get("predicate")))
    return SignStatement(predicate_type, digests, annotations)


def certificate_identity(der: bytes) -> str:
    """Who a Fulcio certificate names (its SAN) and its OIDC issuer, for the report."""
    from cryptography import x509

    try:
        certificate = x509.load_der_x509_certificate(der)
    except ValueError:
        return "an unreadable certificate"
    names: list[str] = []
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [str(name.value) for name in san]
    except x509.ExtensionNotFound:
        pass
    issuer = ""
    for extension in certificate.extensions:
        oid = extension.oid.dotted_string
        # Fulcio's OIDC issuer: 1.3.6.1.4.1.57264.1.1 (raw text) or .1.8 (a DER UTF8String).
        if oid in FULCIO_ISSUER_OIDS and isinstance(extension.value, x509.UnrecognizedExtension):
            raw = extension.value.value
            issuer = (raw[2:] if oid == FULCIO_ISSUER_OIDS[1] else raw).decode(errors="replace")
    who = ", ".join(names) or certificate.subject.rfc4514_string() or "no identity"
    return who + (f" (issuer {issuer})" if issuer else "")


def pem_certificate(value: str) -> bytes | None:
    """The DER of a PEM certificate (a `dev.sigstore.cosign/certificate` annotation)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    try:
        return x509.load_pem_x509_certificate(value.encode()).public_bytes(Encoding.DER)
    except ValueError:
        return None
