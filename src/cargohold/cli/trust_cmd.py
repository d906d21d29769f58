"""`cargohold generate-key-pair`, `sign` and `verify`: cosign-compatible image signatures on
any registry.

Keys are cosign's files (cosign.key sealed with a password, cosign.pub); the password comes
from `$COSIGN_PASSWORD` (as for cosign; an empty value is an empty password), else a prompt.
The engine is trust/; the registry is reached with cli/registry_client.py.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cargohold.cli.common import JsonOption, fail, print_json

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

    from cargohold.cli.registry_client import RegistryClient
    from cargohold.trust.verification import SignatureCheck, TrustedKey, VerificationReport

PASSWORD_ENV = "COSIGN_PASSWORD"

ImageArgument = Annotated[
    str,
    typer.Argument(
        metavar="IMAGE",
        help="HOST[:PORT]/REPOSITORY[:TAG|@DIGEST] on any registry (REPOSITORY[:TAG|@DIGEST] "
        "with --registry).",
    ),
]
AnnotationOption = Annotated[
    list[str] | None,
    typer.Option("--annotation", "-a", metavar="KEY=VALUE", show_default=False),
]
RegistryOption = Annotated[
    str | None,
    typer.Option(
        "--registry",
        envvar="CARGOHOLD_REGISTRY",
        help="The registry of an IMAGE that names none (a URL, or HOST:PORT for plain HTTP).",
        show_default=False,
    ),
]
PlainHttpOption = Annotated[
    bool,
    typer.Option(
        "--plain-http", help="Talk plain HTTP to the registry IMAGE names (loopback always does)."
    ),
]


@dataclass(frozen=True)
class RemoteImage:
    base: str  # the registry's URL
    host: str  # HOST[:PORT], as a docker reference names it
    repository: str
    reference: str  # a tag or a digest

    @property
    def docker_reference(self) -> str:
        """What cosign writes as `critical.identity.docker-reference`: HOST/REPOSITORY."""
        return f"{self.host}/{self.repository}"

    def at(self, digest: str) -> str:
        return f"{self.docker_reference}@{digest}"


def remote_image(text: str, registry: str | None, plain_http: bool = False) -> RemoteImage:
    """HOST[:PORT]/REPO[:TAG|@DIGEST], or REPO[:TAG|@DIGEST] on the --registry server; the tag
    defaults to `latest`, as for docker and cosign (cli/references.py parses); `docker.io` is
    Docker Hub's API host."""
    from cargohold.cli.client import base_url
    from cargohold.cli.references import ReferenceError, parse_registry_reference
    from cargohold.cli.registry_auth import api_base

    try:
        parsed = parse_registry_reference(text)
    except ReferenceError as exc:
        raise fail(str(exc)) from None
    if parsed.host:
        host, base = parsed.host, api_base(parsed.host, plain_http)
    elif registry:
        base = base_url(registry)
        host = base.split("://", 1)[1].split("/", 1)[0]
    else:
        raise fail(f"{text}: name the registry (HOST/REPOSITORY:TAG), or give --registry URL")
    return RemoteImage(base, host, parsed.repository, parsed.reference)


def annotations_of(pairs: list[str] | None) -> dict[str, str]:
    annotations: dict[str, str] = {}
    for pair in pairs or []:
        name, eq, value = pair.partition("=")
        if not eq or not name:
            raise fail(f"-a {pair!r}: give KEY=VALUE")
        annotations[name] = value
    return annotations


def _password(confirm: bool) -> bytes:
    if PASSWORD_ENV in os.environ:
        return os.environ[PASSWORD_ENV].encode()
    if not sys.stdin.isatty():
        raise fail(f"no password: set {PASSWORD_ENV} (or run in a terminal to be asked)")
    try:
        if confirm:
            password = typer.prompt(
                "Enter password for private key",
                hide_input=True,
                confirmation_prompt="Enter password for private key again",
                err=True,
            )
        else:
            password = typer.prompt("Enter password for private key", hide_input=True, err=True)
    except typer.Abort:
        typer.echo(err=True)
        raise fail("no password given") from None
    return str(password).encode()


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise fail(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None


def generate_key_pair(
    output_key_prefix: Annotated[
        str, typer.Option("--output-key-prefix", help="Write PREFIX.key and PREFIX.pub.")
    ] = "cosign",
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing key files.")] = False,
) -> None:
    """Make an ECDSA P-256 key pair as cosign does: PREFIX.key (sealed with a password from
    $COSIGN_PASSWORD or a prompt) and PREFIX.pub."""
    from cargohold.trust.keys import generate_key_pair as generate

    private, public = Path(f"{output_key_prefix}.key"), Path(f"{output_key_prefix}.pub")
    for path in (private, public):
        if path.exists() and not force:
            raise fail(f"{path} exists: remove it, or give --force to overwrite it")
    pair = generate(_password(confirm=True))
    try:
        private.unlink(missing_ok=True)
        descriptor = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(pair.private_pem)
        public.write_bytes(pair.public_pem)
    except OSError as exc:
        raise fail(f"cannot write the key files: {exc}") from None
    print(f"Private key written to {private}")
    print(f"Public key written to {public}")


def _client(image: RemoteImage, push: bool) -> RegistryClient:
    from cargohold.cli.registry_client import RegistryClient

    return RegistryClient(image.base, image.repository, push=push)


def sign(
    image: ImageArgument,
    key: Annotated[Path, typer.Option("--key", help="The private key (cosign.key).")],
    annotation: AnnotationOption = None,
    referrer: Annotated[
        bool,
        typer.Option(
            "--referrer",
            help="Store the signature as an OCI 1.1 referrer instead of the sha256-<hex>.sig tag.",
        ),
    ] = False,
    registry: RegistryOption = None,
    plain_http: PlainHttpOption = False,
) -> None:
    """Sign an image with a cosign key, as `cosign sign --key` does (annotations with -a).

    The signature goes to the image's repository, by default under the tag sha256-<hex>.sig
    (what cosign v2, skopeo and podman read); with --referrer as an OCI 1.1 referrer."""
    from cargohold.trust.discovery import SourceError
    from cargohold.trust.keys import KeyFileError, load_private_key

    target = remote_image(image, registry, plain_http)
    annotations = annotations_of(annotation)
    data = _read(key, "private key")
    try:
        private_key = load_private_key(data, _password(confirm=False))
    except KeyFileError as exc:
        raise fail(f"{key}: {exc}") from None
    try:
        with _client(target, push=True) as client:
            subject = client.descriptor(target.reference)
            stored = _store_signature(client, target, subject, private_key, annotations, referrer)
    except SourceError as exc:
        raise fail(str(exc)) from None
    print(f"Signed {target.at(subject['digest'])}")
    print(f"Signature stored as {stored}")


def _store_signature(
    client: RegistryClient,
    target: RemoteImage,
    subject: dict[str, Any],
    private_key: ec.EllipticCurvePrivateKey,
    annotations: dict[str, str],
    referrer: bool,
) -> str:
    """Sign the image `subject` (its descriptor) and store the signature; where it went."""
    from cargohold.trust.formats import referrers_tag, signature_tag
    from cargohold.trust.payload import build_payload
    from cargohold.trust.signing import (
        referrer_manifest,
        referrers_tag_index,
        sign_payload,
        signature_tag_manifest,
    )

    digest = subject["digest"]
    layer = sign_payload(private_key, build_payload(target.docker_reference, digest, annotations))
    if not referrer:
        tag = signature_tag(digest)
        existing = client.manifest(tag)
        manifest = signature_tag_manifest(layer, existing.document if existing else None)
        if manifest is not None:  # None: this very signature is there already
            for blob in manifest.blobs:
                client.push_blob(blob)
            client.put_manifest(tag, manifest.content, manifest.media_type)
        return f"{target.docker_reference}:{tag}"
    pushed = referrer_manifest(layer, subject)
    for blob in pushed.blobs:
        client.push_blob(blob)
    headers = client.put_manifest(pushed.digest, pushed.content, pushed.media_type)
    if "oci-subject" not in headers:
        # No referrers API (the registry did not confirm the subject): the tag schema's index.
        tag = referrers_tag(digest)
        existing = client.manifest(tag)
        index = referrers_tag_index(pushed, existing.document if existing else None)
        if index is not None:
            client.put_manifest(tag, index.content, index.media_type)
    return f"{target.docker_reference}@{pushed.digest} (OCI referrer)"


def trusted_keys(paths: list[Path]) -> list[TrustedKey]:
    from cargohold.trust.keys import KeyFileError, load_public_key
    from cargohold.trust.verification import TrustedKey

    keys = []
    for path in paths:
        try:
            keys.append(TrustedKey(path.name, load_public_key(_read(path, "public key"))))
        except KeyFileError as exc:
            raise fail(f"{path}: {exc}") from None
    return keys


def verify(
    image: ImageArgument,
    key: Annotated[
        list[Path],
        typer.Option("--key", help="A trusted public key (cosign.pub); repeat for several."),
    ],
    annotation: AnnotationOption = None,
    registry: RegistryOption = None,
    plain_http: PlainHttpOption = False,
    as_json: JsonOption = False,
) -> None:
    """Verify an image's cosign signatures: every shape cosign writes (the .sig tag, OCI
    referrers through the API or the referrers tag schema, sigstore bundles), each checked
    against the keys. Exit status 0 only when at least one signature by one of the keys
    signs this image digest (with the -a annotations, if given)."""
    from cargohold.trust.discovery import SourceError
    from cargohold.trust.verification import verify_image

    target = remote_image(image, registry, plain_http)
    required = annotations_of(annotation)
    keys = trusted_keys(key)
    try:
        with _client(target, push=False) as client:
            digest = client.descriptor(target.reference)["digest"]
            report = verify_image(client, digest, keys, required)
    except SourceError as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json({"image": target.at(digest), **report.as_json()})
    else:
        _print_report(target, report)
    if not report.passed:
        raise fail(_failure(target, report))


def _line(check: SignatureCheck) -> str:
    where = f"{check.shape.label} {check.location}" + (
        f" layer {check.layer_index}" if check.layer_index > 1 else ""
    )
    text = f"  {check.status.value:<12} {where}: {check.reason}"
    if check.annotations:
        pairs = ", ".join(f"{k}={v}" for k, v in sorted(check.annotations.items()))
        text += f" [annotations: {pairs}]"
    return text


def _print_report(target: RemoteImage, report: VerificationReport) -> None:
    print(f"Verification of {target.at(report.subject)}")
    for looked in report.looked_at:
        print(f"  looked at {looked}")
    for check in report.checks:
        print(_line(check))
    if report.passed:
        keys = sorted({check.key.name for check in report.valid if check.key})
        print(f"{len(report.valid)} valid signature(s) by {', '.join(keys)}")


def _failure(target: RemoteImage, report: VerificationReport) -> str:
    from cargohold.trust.verification import Status

    image = target.at(report.subject)
    if not report.checks:
        return f"{image}: no signatures found"
    statuses = {check.status for check in report.checks}
    if Status.ANNOTATIONS in statuses:
        return f"{image}: no signature by the key has the annotations asked for"
    if statuses == {Status.KEYLESS}:
        return f"{image}: only keyless signatures, which are not verified offline"
    return f"{image}: no valid signature by the key ({len(report.checks)} found, none valid)"
