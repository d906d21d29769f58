"""The analysis of images in the registry (GET .../manifests/{reference}/analysis): the same
document `cargohold analyze` writes for the image as a local file, computed once per manifest
and stored, every platform of an index, clear errors, and the CLI reading it."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from tests.api.test_openapi_responses import _response_schema, _validate
from tests.api.test_scan_remote_sources import _skopeo_push
from tests.scan.imagebuild import ImageSpec, OCILayout, oci_layout
from tests.scan.test_analysis import FINAL, SPEC, WASTED, _analysis
from tests.support.distribution import Distribution
from tests.support.images import push_layout
from tests.support.oci import (
    OCI_EMPTY,
    encode,
    error_code,
    image_manifest,
    push_image,
    put_manifest,
)
from tests.support.server import CARGOHOLD, CargoholdServer

PATH = "/api/v1/repositories/{name}/manifests/{reference}/analysis"


def _url(repository: str, reference: str) -> str:
    return f"/api/v1/repositories/{repository}/manifests/{reference}/analysis"


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return oci_layout(tmp_path_factory.mktemp("analysis-api") / "layout", SPEC)


def test_the_registry_analyzes_an_image_as_the_cli_does(
    client: httpx.Client, repo: str, layout: Path
) -> None:
    digest = push_layout(client, layout, "latest", repo, "1")
    response = client.get(_url(repo, "1"))
    assert response.status_code == 200, response.text
    document = response.json()
    assert document["image"] == f"{repo}@{digest}"
    (platform,) = document["platforms"]
    assert platform == msgspec.to_builtins(_analysis(f"oci:{layout}"))
    assert (platform["wastedBytes"], platform["finalBytes"]) == (WASTED, FINAL)
    # By digest too, and the schema the OpenAPI document gives.
    by_digest = client.get(_url(repo, digest))
    assert by_digest.json() == document
    openapi = client.get("/api/v1/openapi.json").json()
    _validate(openapi, _response_schema(openapi, PATH, "get", "200"), document)


def test_an_index_is_analyzed_per_platform(client: httpx.Client, repo: str, tmp_path: Path) -> None:
    specs = [
        ImageSpec(layers=SPEC.layers, history=SPEC.history, user="app"),
        ImageSpec(layers=SPEC.layers[:1], architecture="arm64", variant="v8"),
    ]
    layout = OCILayout(tmp_path / "multi")
    layout.tag(layout.index(specs), "latest")
    push_layout(client, tmp_path / "multi", "latest", repo, "multi")
    document = client.get(_url(repo, "multi")).json()
    platforms = {p["platform"]: p["wastedBytes"] for p in document["platforms"]}
    assert platforms == {"linux/amd64": WASTED, "linux/arm64/v8": 0}


def test_an_analysis_is_stored_once_per_manifest(
    fresh_registry: CargoholdServer, layout: Path
) -> None:
    """Once analyzed, the layers are not read again: the analysis stands even after the blob
    store loses a layer (where asking first would fail, as the next test shows)."""
    with fresh_registry.client(timeout=60) as client:
        push_layout(client, layout, "latest", "team/app", "1")
        first = client.get(_url("team/app", "1"))
        assert first.status_code == 200, first.text
        layer = first.json()["platforms"][0]["layers"][0]["digest"].split(":")[1]
        (blob,) = (p for p in fresh_registry.data_dir.rglob(layer) if p.is_file())
        blob.write_bytes(b"gone")
        again = client.get(_url("team/app", "1"))
        assert again.status_code == 200 and again.json() == first.json()


def test_an_unreadable_layer_fails_and_nothing_is_stored(client: httpx.Client, repo: str) -> None:
    push_image(client, repo, "v1", layers=[b"not a tar stream" * 40])
    for _ in range(2):  # a failure is not stored: asking again analyzes again
        response = client.get(_url(repo, "v1"))
        assert response.status_code == 409, response.text
        assert error_code(response) == "ANALYSIS_FAILED"
        error = response.json()["errors"][0]
        assert "is not a readable tar stream" in error["detail"]["reason"]


def test_an_artifact_and_unknown_images_are_clear_errors(client: httpx.Client, repo: str) -> None:
    document = image_manifest(client, repo, layers=[b"payload"])
    document["config"]["mediaType"] = OCI_EMPTY
    document["artifactType"] = "application/vnd.example+json"
    assert put_manifest(client, repo, "artifact", encode(document)).status_code == 201
    artifact = client.get(_url(repo, "artifact"))
    assert (artifact.status_code, error_code(artifact)) == (409, "ANALYSIS_FAILED")
    assert "not an image" in artifact.json()["errors"][0]["message"]
    missing = client.get(_url(repo, "nope"))
    assert (missing.status_code, error_code(missing)) == (404, "MANIFEST_UNKNOWN")
    unknown = client.get(_url(repo + "-none", "1"))
    assert unknown.status_code == 404


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "CARGOHOLD_REGISTRY"}
    return subprocess.run(
        [CARGOHOLD, "analyze", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=environment | {"COLUMNS": "200"},
    )


def test_the_cli_reads_the_servers_analysis(
    registry: CargoholdServer, client: httpx.Client, repo: str, layout: Path
) -> None:
    push_layout(client, layout, "latest", repo, "1")
    done = _cli(f"{registry.host}/{repo}:1", "--format", "json")
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    assert report["image"] == f"{registry.host}/{repo}:1"
    assert report["platforms"][0]["wastedBytes"] == WASTED
    compared = _cli(
        "--compare", f"oci:{layout}", f"{repo}:1", "--registry", registry.url, "-f", "json"
    )
    assert compared.returncode == 0, compared.stderr
    (comparison,) = json.loads(compared.stdout)["comparisons"]
    assert comparison["delta"] == 0 and comparison["directories"] == []
    assert {layer["change"] for layer in comparison["layers"]} == {"same"}
    refused = _cli(f"{repo}:nope", "--registry", registry.url)
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1
    assert "MANIFEST_UNKNOWN" in refused.stderr


@pytest.fixture(scope="module")
def distribution(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Distribution]:
    registry = Distribution(tmp_path_factory.mktemp("analysis-distribution")).start()
    yield registry
    registry.stop()


def test_an_image_in_another_registry_is_read_and_analyzed_here(
    distribution: Distribution, layout: Path, tmp_path: Path
) -> None:
    """CNCF distribution is not a cargohold server: the CLI copies the image and reads it."""
    digest = _skopeo_push(layout, f"{distribution.host}/team/app:1.0", tmp_path)
    done = _cli(f"docker://{distribution.host}/team/app@{digest}", "-f", "json")
    assert done.returncode == 0, done.stderr
    (platform,) = json.loads(done.stdout)["platforms"]
    assert platform == msgspec.to_builtins(_analysis(f"oci:{layout}"))
    missing = _cli(f"{distribution.host}/team/app:2.0")
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1
    assert "no such image" in missing.stderr


def test_platform_picks_one_of_an_index(tmp_path: Path) -> None:
    layout = OCILayout(tmp_path / "multi")
    specs = [SPEC, ImageSpec(layers=SPEC.layers[:1], architecture="arm64", variant="v8")]
    layout.tag(layout.index(specs), "latest")
    done = _cli(f"oci:{tmp_path / 'multi'}", "--platform", "linux/arm64/v8", "-f", "json")
    assert done.returncode == 0, done.stderr
    assert [p["platform"] for p in json.loads(done.stdout)["platforms"]] == ["linux/arm64/v8"]
    # Two indexes compare platform by platform.
    compared = _cli(
        "--compare", f"oci:{tmp_path / 'multi'}", f"oci:{tmp_path / 'multi'}", "-f", "json"
    )
    assert compared.returncode == 0, compared.stderr
    assert len(json.loads(compared.stdout)["comparisons"]) == 2
    absent = _cli(f"oci:{tmp_path / 'multi'}", "--platform", "linux/s390x")
    assert (absent.returncode, absent.stderr) == (
        1,
        f"error: oci:{tmp_path / 'multi'}: no linux/s390x image in it\n",
    )
