"""The oras Python SDK against cargohold: artifacts with annotations, and referrers.

Artifacts (SBOMs, signatures, Helm charts...) are pushed as OCI image manifests whose
layers are arbitrary files; a referrer names the manifest it is about in `subject`, and
`GET /v2/<name>/referrers/<digest>` is how a verifier finds it.

The SDK signs in as the developer, with a personal access token (`Registry.auth.set_basic_auth`).
Its `basic` backend answers each 401 with those Basic credentials, which /v2/ accepts; its
`token` backend follows the challenge to /auth/token and sends the registry token as Bearer,
but keeps its first token for every later scope (it asks again only after a 403), so it can
pull with tokens but not push after a pull-scoped request: pushes here use `basic`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import oras.oci
import oras.provider
import pytest

from tests.clients.conftest import PUBLIC, TEAM, People
from tests.support.accesslog import access_log, wait_for_entries
from tests.support.images import OCI_INDEX, OCI_MANIFEST, sha256
from tests.support.server import CargoholdServer

pytestmark = [pytest.mark.peer, pytest.mark.timeout(300)]

OCI_EMPTY = "application/vnd.oci.empty.v1+json"
TEXT_TYPE = "application/vnd.cargohold.test.text.v1"
SBOM_TYPE = "application/vnd.cargohold.test.sbom.v1+json"
SIGNATURE_TYPE = "application/vnd.cargohold.test.signature.v1"

# Bytes that must survive untouched: not UTF-8, with CR LF and NULs.
PAYLOAD = b"cargohold artifact\r\n\x00\x01\xfe\xff" + bytes(range(256)) * 8 + b"end\n"


@pytest.fixture
def oras_registry(
    sqlite_registry: CargoholdServer, people: People
) -> Iterator[oras.provider.Registry]:
    """The SDK with Basic credentials: the developer's personal access token."""
    registry = _sdk(sqlite_registry, "basic")
    token = people.developer_token
    registry.auth.set_basic_auth(token.name, token.secret)
    yield registry
    registry.session.close()


def _sdk(server: CargoholdServer, backend: str) -> oras.provider.Registry:
    registry = oras.provider.Registry(hostname=server.host, insecure=True, auth_backend=backend)
    registry.session.trust_env = False  # loopback only, whatever proxies the host sets
    return registry


def _manifest(registry: CargoholdServer, repo: str, reference: str) -> httpx.Response:
    response = httpx.get(
        f"{registry.url}/v2/{repo}/manifests/{reference}",
        headers={"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"},
        auth=registry.admin_auth,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response


def _referrers(
    registry: CargoholdServer, repo: str, digest: str, artifact_type: str | None = None
) -> httpx.Response:
    params = {"artifactType": artifact_type} if artifact_type else {}
    response = httpx.get(
        f"{registry.url}/v2/{repo}/referrers/{digest}",
        params=params,
        auth=registry.admin_auth,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith(OCI_INDEX)
    return response


def test_push_and_pull_an_artifact_with_annotations(
    oras_registry: oras.provider.Registry,
    sqlite_registry: CargoholdServer,
    repo: str,
    tmp_path: Path,
) -> None:
    upload = tmp_path / "upload"
    upload.mkdir()
    artifact = upload / "payload.bin"
    artifact.write_bytes(PAYLOAD)
    notes = upload / "notes.txt"
    notes.write_text("first line\nsecond line\n")
    annotations = {
        "org.opencontainers.image.description": "a test artifact",
        "org.opencontainers.image.created": "2024-01-02T03:04:05Z",
        "com.example.cargohold/unicode": "caf\u00e9 \u2713",
    }

    target = f"{sqlite_registry.host}/{repo}:v1"
    pushed = oras_registry.push(
        target=target,
        files=[f"{artifact}:{TEXT_TYPE}", str(notes)],
        manifest_annotations=annotations,
        disable_path_validation=True,
        quiet=True,
    )
    assert pushed.status_code == 201
    digest = pushed.headers["Docker-Content-Digest"]

    served = _manifest(sqlite_registry, repo, "v1")
    assert sha256(served.content) == digest
    document = json.loads(served.content)
    assert document["annotations"] == annotations
    titles = [
        layer["annotations"]["org.opencontainers.image.title"] for layer in document["layers"]
    ]
    assert titles == ["payload.bin", "notes.txt"]
    assert document["layers"][0]["mediaType"] == TEXT_TYPE
    assert document["layers"][0]["digest"] == sha256(PAYLOAD)

    # The SDK's own view of it.
    assert oras_registry.get_manifest(target) == document
    assert "v1" in oras_registry.get_tags(f"{sqlite_registry.host}/{repo}")

    for reference in (target, f"{sqlite_registry.host}/{repo}@{digest}"):
        out = tmp_path / f"out-{len(reference)}"
        files = oras_registry.pull(target=reference, outdir=str(out))
        assert sorted(Path(f).name for f in files) == ["notes.txt", "payload.bin"]
        assert (out / "payload.bin").read_bytes() == PAYLOAD
        assert (out / "notes.txt").read_bytes() == notes.read_bytes()


def test_the_token_backend_pulls_with_registry_tokens(
    oras_registry: oras.provider.Registry,
    sqlite_registry: CargoholdServer,
    people: People,
    tmp_path: Path,
) -> None:
    """Signed in (a personal access token for the token endpoint) from a private project, and
    anonymously from a public one."""
    host = sqlite_registry.host
    artifact = tmp_path / "payload.bin"
    artifact.write_bytes(PAYLOAD)
    private, public = f"{TEAM}/oras-{uuid.uuid4().hex[:8]}", f"{PUBLIC}/oras-{uuid.uuid4().hex[:8]}"
    for repository in (private, public):
        oras_registry.push(
            target=f"{host}/{repository}:v1",
            files=[str(artifact)],
            disable_path_validation=True,
            quiet=True,
        )

    # Signed in: the challenge, a token from /auth/token, then Bearer.
    signed_in = _sdk(sqlite_registry, "token")
    token = people.developer_token
    signed_in.auth.set_basic_auth(token.name, token.secret)
    log_start = len(access_log(sqlite_registry))
    files = signed_in.pull(target=f"{host}/{private}:v1", outdir=str(tmp_path / "private"))
    assert [Path(f).read_bytes() for f in files] == [PAYLOAD]
    entries = wait_for_entries(
        sqlite_registry,
        lambda entries: any(e["path"] == "/auth/token" for e in entries),
        since=log_start,
    )
    assert [(e["method"], e["status"]) for e in entries if e["path"] == "/auth/token"] == [
        ("GET", 200)
    ]
    signed_in.session.close()

    # Anonymous: a public project answers without any challenge.
    anonymous = _sdk(sqlite_registry, "token")
    files = anonymous.pull(target=f"{host}/{public}:v1", outdir=str(tmp_path / "public"))
    assert [Path(f).read_bytes() for f in files] == [PAYLOAD]
    # Without credentials the private one is refused.
    with pytest.raises(ValueError, match="Unauthorized"):
        anonymous.pull(target=f"{host}/{private}:v1", outdir=str(tmp_path / "refused"))
    anonymous.session.close()


def test_push_and_pull_a_directory_artifact(
    oras_registry: oras.provider.Registry,
    sqlite_registry: CargoholdServer,
    repo: str,
    tmp_path: Path,
) -> None:
    source = tmp_path / "chart"
    (source / "templates").mkdir(parents=True)
    (source / "Chart.yaml").write_text("apiVersion: v2\nname: cargohold-test\nversion: 0.1.0\n")
    (source / "templates" / "blob.bin").write_bytes(PAYLOAD)
    target = f"{sqlite_registry.host}/{repo}:chart"
    pushed = oras_registry.push(
        target=target, files=[str(source)], disable_path_validation=True, quiet=True
    )
    assert pushed.status_code == 201

    out = tmp_path / "out"
    oras_registry.pull(target=target, outdir=str(out))
    assert (out / "chart" / "Chart.yaml").read_bytes() == (source / "Chart.yaml").read_bytes()
    assert (out / "chart" / "templates" / "blob.bin").read_bytes() == PAYLOAD


def test_referrers_find_artifacts_that_name_a_subject(
    oras_registry: oras.provider.Registry,
    sqlite_registry: CargoholdServer,
    people: People,
    repo: str,
    tmp_path: Path,
) -> None:
    host = sqlite_registry.host
    upload = tmp_path / "upload"
    upload.mkdir()

    # The subject: an ordinary artifact.
    (upload / "app.bin").write_bytes(PAYLOAD)
    subject_push = oras_registry.push(
        target=f"{host}/{repo}:app",
        files=[str(upload / "app.bin")],
        disable_path_validation=True,
        quiet=True,
    )
    subject_digest = subject_push.headers["Docker-Content-Digest"]
    subject_bytes = _manifest(sqlite_registry, repo, subject_digest).content
    subject = oras.oci.Subject(
        mediaType=OCI_MANIFEST, digest=subject_digest, size=len(subject_bytes)
    )
    assert json.loads(_referrers(sqlite_registry, repo, subject_digest).content)["manifests"] == []

    # Referrer 1, pushed by the SDK: an SBOM whose config media type is its artifact type.
    sbom = upload / "sbom.json"
    sbom.write_text(json.dumps({"spdxVersion": "SPDX-2.3", "name": "app"}))
    config = upload / "sbom-config.json"
    config.write_text(json.dumps({"generator": "cargohold-tests"}))
    sbom_annotations = {"org.opencontainers.image.created": "2024-01-02T03:04:05Z"}
    sbom_push = oras_registry.push(
        target=f"{host}/{repo}:sbom",
        files=[f"{sbom}:application/spdx+json"],
        manifest_config=f"{config}:{SBOM_TYPE}",
        manifest_annotations=sbom_annotations,
        subject=subject,
        disable_path_validation=True,
        quiet=True,
    )
    assert sbom_push.status_code == 201
    assert sbom_push.headers["OCI-Subject"] == subject_digest
    sbom_digest = sbom_push.headers["Docker-Content-Digest"]
    sbom_bytes = _manifest(sqlite_registry, repo, sbom_digest).content

    # Referrer 2: the SDK has no artifactType, so its manifest is built here and PUT by
    # digest; its blobs are uploaded with the SDK.
    signature = upload / "signature.sig"
    signature.write_bytes(b"\x30\x82signature-bytes\x00")
    empty = upload / "empty.json"
    empty.write_bytes(b"{}")
    container = oras_registry.get_container(f"{host}/{repo}")
    empty_descriptor = {"mediaType": OCI_EMPTY, "digest": sha256(b"{}"), "size": 2}
    signature_descriptor = oras.oci.NewLayer(str(signature), media_type=SIGNATURE_TYPE)
    for path, descriptor in ((empty, empty_descriptor), (signature, signature_descriptor)):
        uploaded = oras_registry.upload_blob(str(path), container, descriptor)
        assert uploaded.status_code in (200, 201), uploaded.text
    signature_annotations = {"dev.cargohold.test/signer": "tests"}
    signature_bytes = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": SIGNATURE_TYPE,
            "config": empty_descriptor,
            "layers": [signature_descriptor],
            "subject": {
                "mediaType": OCI_MANIFEST,
                "digest": subject_digest,
                "size": len(subject_bytes),
            },
            "annotations": signature_annotations,
        },
        indent=2,
    ).encode()
    signature_digest = sha256(signature_bytes)
    put = httpx.put(
        f"{sqlite_registry.url}/v2/{repo}/manifests/{signature_digest}",
        content=signature_bytes,
        headers={"Content-Type": OCI_MANIFEST},
        auth=people.developer_token.auth,
        timeout=30,
    )
    assert put.status_code == 201, put.text
    assert put.headers["OCI-Subject"] == subject_digest
    assert put.headers["Docker-Content-Digest"] == signature_digest

    listing = _referrers(sqlite_registry, repo, subject_digest)
    assert "OCI-Filters-Applied" not in listing.headers
    index = listing.json()
    assert index["schemaVersion"] == 2
    assert index["mediaType"] == OCI_INDEX
    by_digest = {d["digest"]: d for d in index["manifests"]}
    assert by_digest == {
        sbom_digest: {
            "mediaType": OCI_MANIFEST,
            "digest": sbom_digest,
            "size": len(sbom_bytes),
            "artifactType": SBOM_TYPE,
            "annotations": sbom_annotations,
        },
        signature_digest: {
            "mediaType": OCI_MANIFEST,
            "digest": signature_digest,
            "size": len(signature_bytes),
            "artifactType": SIGNATURE_TYPE,
            "annotations": signature_annotations,
        },
    }

    filtered = _referrers(sqlite_registry, repo, subject_digest, SIGNATURE_TYPE)
    assert filtered.headers["OCI-Filters-Applied"] == "artifactType"
    assert [d["digest"] for d in filtered.json()["manifests"]] == [signature_digest]
    filtered = _referrers(sqlite_registry, repo, subject_digest, SBOM_TYPE)
    assert [d["digest"] for d in filtered.json()["manifests"]] == [sbom_digest]
    nothing = _referrers(sqlite_registry, repo, subject_digest, "application/x-none")
    assert nothing.headers["OCI-Filters-Applied"] == "artifactType"
    assert nothing.json()["manifests"] == []

    # The referrer's blobs come back as uploaded.
    pulled = oras_registry.pull(target=f"{host}/{repo}@{signature_digest}", outdir=str(tmp_path))
    assert [Path(p).read_bytes() for p in pulled] == [signature.read_bytes()]

    # A deleted referrer is no longer listed.
    deleted = httpx.delete(
        f"{sqlite_registry.url}/v2/{repo}/manifests/{sbom_digest}",
        auth=people.developer_token.auth,
        timeout=30,
    )
    assert deleted.status_code == 202
    remaining = _referrers(sqlite_registry, repo, subject_digest).json()["manifests"]
    assert [d["digest"] for d in remaining] == [signature_digest]
