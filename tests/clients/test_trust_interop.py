"""cargohold's signatures where other tools read them, on any registry.

- skopeo (containers/image) copies the `.sig` signatures cargohold writes along with the
  image (`use-sigstore-attachments: true`), here from cargohold to Debian's docker-registry,
  and `cargohold verify` passes on the copy;
- on a registry without the referrers API (distribution 2.8), `sign --referrer` lists the
  referrer in the referrers tag schema's index (`sha256-<hex>`) and `verify` finds it there;
- containers/image's own verifier (policy.json `sigstoreSigned` with `keyPath`) accepts a
  cargohold-signed image on `skopeo copy` and refuses it for another key. Debian's skopeo is
  built without sigstore ("Debian-local change: sigstore disabled"): there that test says so
  and is skipped; with an upstream skopeo it runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.clients.conftest import SKOPEO, DistributionRegistry, People, Skopeo, _require
from tests.clients.trust_cli import TrustCli
from tests.support.oci import OCI_MANIFEST, push_image
from tests.support.server import CargoholdServer

pytestmark = [pytest.mark.peer, pytest.mark.timeout(300)]

SIGSTORE_DISABLED = "sigstore disabled"


@pytest.fixture(scope="module")
def attaching_skopeo(
    tmp_path_factory: pytest.TempPathFactory, sqlite_registry: CargoholdServer, people: People
) -> Skopeo:
    """skopeo signed in to cargohold as the developer, copying sigstore attachments."""
    _require(SKOPEO, "skopeo")
    tool = Skopeo(tmp_path_factory.mktemp("skopeo-sigstore")).setup()
    (tool.home / "registries.d" / "default.yaml").write_text(
        "default-docker:\n  use-sigstore-attachments: true\n"
    )
    tool.login(sqlite_registry.host, people.developer)
    return tool


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory, attaching_skopeo: Skopeo) -> TrustCli:
    tool = TrustCli(tmp_path_factory.mktemp("trust-interop"), attaching_skopeo.authfile)
    tool.key_pair("cosign")
    tool.key_pair("other")
    return tool


def test_skopeo_copies_the_signature_and_it_verifies_on_the_other_registry(
    cli: TrustCli,
    attaching_skopeo: Skopeo,
    sqlite_registry: CargoholdServer,
    distribution: DistributionRegistry,
    developer: httpx.Client,
    repo: str,
) -> None:
    digest, _ = push_image(developer, repo, "v1", layers=[b"copied with its signature"])
    cli.ok("sign", f"{sqlite_registry.host}/{repo}:v1", "--key", "cosign.key", "-a", "env=prod")
    target = f"mirror/{repo}"
    attaching_skopeo.copy(
        f"docker://{sqlite_registry.host}/{repo}:v1",
        f"docker://{distribution.host}/{target}:v1",
        "--all",
    )
    tags = httpx.get(f"{distribution.url}/v2/{target}/tags/list", timeout=30).json()["tags"]
    assert sorted(tags) == sorted(["v1", digest.replace(":", "-") + ".sig"])
    copied = cli.ok(
        "verify", f"{distribution.host}/{target}:v1", "--key", "cosign.pub", "-a", "env=prod"
    )
    assert f"Verification of {distribution.host}/{target}@{digest}" in copied
    assert "referrers API: not supported" in copied
    assert "valid        .sig tag" in copied
    refused = cli.refused("verify", f"{distribution.host}/{target}:v1", "--key", "other.pub")
    assert "does not match the key other.pub" in refused.stdout


def test_referrer_on_a_registry_without_the_referrers_api_uses_the_tag_schema(
    cli: TrustCli,
    attaching_skopeo: Skopeo,
    sqlite_registry: CargoholdServer,
    distribution: DistributionRegistry,
    developer: httpx.Client,
    repo: str,
) -> None:
    push_image(developer, repo, "v1", layers=[b"distribution image"])
    image = f"{distribution.host}/{repo}:v1"
    attaching_skopeo.copy(f"docker://{sqlite_registry.host}/{repo}:v1", f"docker://{image}")
    # skopeo compressed the layer on the way: the image has a digest of its own there.
    digest = httpx.head(
        f"{distribution.url}/v2/{repo}/manifests/v1", headers={"Accept": OCI_MANIFEST}, timeout=30
    ).headers["Docker-Content-Digest"]
    cli.ok("sign", image, "--key", "cosign.key", "--referrer")
    cli.ok("sign", image, "--key", "other.key", "--referrer")
    index = httpx.get(
        f"{distribution.url}/v2/{repo}/manifests/{digest.replace(':', '-')}",
        headers={"Accept": "application/vnd.oci.image.index.v1+json"},
        timeout=30,
    )
    assert index.status_code == 200, index.text
    index = index.json()
    assert [m["artifactType"] for m in index["manifests"]] == [
        "application/vnd.dev.cosign.artifact.sig.v1+json"
    ] * 2
    verified = cli.ok("verify", image, "--key", "cosign.pub", "--key", "other.pub")
    assert "referrers tag schema" in verified
    assert "2 valid signature(s) by cosign.pub, other.pub" in verified


def _policy(path: Path, host: str, namespace: str, key: Path) -> Path:
    requirement = {
        "type": "sigstoreSigned",
        "keyPath": str(key),
        # cosign-style signatures name the repository only.
        "signedIdentity": {"type": "matchRepository"},
    }
    path.write_text(
        json.dumps(
            {
                "default": [{"type": "reject"}],
                "transports": {
                    "docker": {f"{host}/{namespace}": [requirement]},
                    "dir": {"": [{"type": "insecureAcceptAnything"}]},
                },
            }
        )
    )
    return path


def test_containers_image_accepts_the_signature_by_policy(
    cli: TrustCli,
    attaching_skopeo: Skopeo,
    sqlite_registry: CargoholdServer,
    developer: httpx.Client,
    repo: str,
    tmp_path: Path,
) -> None:
    push_image(developer, repo, "v1", layers=[b"policy checked"])
    cli.ok("sign", f"{sqlite_registry.host}/{repo}:v1", "--key", "cosign.key")
    namespace = repo.split("/")[0]
    source = f"docker://{sqlite_registry.host}/{repo}:v1"
    strict = Skopeo(attaching_skopeo.home)  # the same home, another policy per copy
    accepted = strict.run(
        "--policy",
        str(
            _policy(tmp_path / "ok.json", sqlite_registry.host, namespace, cli.home / "cosign.pub")
        ),
        "copy",
        "--src-tls-verify=false",
        source,
        f"dir:{tmp_path / 'ok'}",
        check=False,
    )
    if SIGSTORE_DISABLED in accepted.stderr.decode():
        pytest.skip("this skopeo is built without sigstore (Debian-local change)")
    assert accepted.returncode == 0, accepted.stderr
    refused = strict.run(
        "--policy",
        str(_policy(tmp_path / "no.json", sqlite_registry.host, namespace, cli.home / "other.pub")),
        "copy",
        "--src-tls-verify=false",
        source,
        f"dir:{tmp_path / 'no'}",
        check=False,
    )
    assert refused.returncode != 0
