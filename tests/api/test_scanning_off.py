"""The core without the scanning extension (`scanning = false`): pushes, pulls, listings,
deletes, holds, tag rules and collections work; the scanning routes and kinds of job do not
exist; and neither a server process nor a worker imports the scanner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

# The core's own tests, collected again here: their `registry` (and so `client`) fixture
# resolves to this module's server, which runs with scanning off.
from tests.api.test_admin import (  # noqa: F401
    test_repositories_and_tags_with_sizes_and_push_time,
    test_system_info_counts,
)
from tests.api.test_gc import test_recent_blobs_are_never_garbage  # noqa: F401
from tests.api.test_holds import (  # noqa: F401
    test_an_image_hold_refuses_deletes_and_beats_the_lifecycle_policy,
    test_project_and_repository_holds_cover_everything_inside,
)
from tests.api.test_listings import (  # noqa: F401
    test_catalog_pagination_covers_every_repository_in_byte_order,
    test_referrers_list_and_artifact_type_filter,
    test_tags_list_in_byte_order_without_n_returns_everything,
    test_tags_pagination_walks_every_tag_once,
)
from tests.api.test_manifests import (  # noqa: F401
    test_delete_by_digest_removes_manifest_and_its_tags,
    test_delete_by_tag_removes_only_the_tag,
    test_docker_schema2_and_manifest_list,
    test_put_by_tag_then_get_and_head_serve_the_same_bytes,
)
from tests.api.test_registry_deletes import test_deletes_through_v2_are_audited  # noqa: F401
from tests.api.test_tag_rules import (  # noqa: F401
    project,
    test_an_immutable_tag_cannot_move_or_be_deleted,
    test_latest_can_be_refused_per_project,
)
from tests.support.oci import error_code, push_image
from tests.support.server import CargoholdServer

SCANNING_OFF = {"CARGOHOLD_SCANNING": "false"}
# What scanning brings; none of it may be loaded with scanning off.
SCANNER_MODULES = (
    "cargohold.scan",
    "cargohold.services.scanning",
    "cargohold.services.scan_policy",
    "cargohold.services.scan_jobs",
    "cargohold.services.vulndb",
    "cargohold.services.vulndb_sources",
    "cargohold.meta.vulndb",
    "cargohold.meta.vulndb_tables",
    "cargohold.api.scanning",
    "cargohold.extensions.scanning",
)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CargoholdServer]:
    """A SQLite-backed server with scanning off, shared by this module."""
    server = CargoholdServer(
        tmp_path_factory.mktemp("scanning-off") / "data", extra_env=SCANNING_OFF
    ).start()
    yield server
    server.stop()


def test_the_scanning_routes_do_not_exist(client: httpx.Client, repo: str) -> None:
    digest, _ = push_image(client, repo, "v1")
    for method, path in (
        ("GET", "/api/v1/scan-policies"),
        ("GET", "/api/v1/projects/test/scan-policy"),
        ("PUT", "/api/v1/projects/test/scan-policy"),
        ("GET", "/api/v1/cve-allowlist"),
        ("GET", "/api/v1/vulnerabilities/overdue"),
        ("GET", "/api/v1/vulndb"),
        ("POST", "/api/v1/vulndb/import"),
        ("GET", f"/api/v1/repositories/{repo}/manifests/v1/scan"),
        ("POST", f"/api/v1/repositories/{repo}/manifests/{digest}/scan"),
    ):
        response = client.request(method, path)
        assert (response.status_code, error_code(response)) == (404, "NOT_FOUND"), path


def test_the_openapi_document_describes_only_what_is_served(client: httpx.Client) -> None:
    document = client.get("/api/v1/openapi.json")
    assert document.status_code == 200, document.text
    paths = document.json()["paths"]
    assert "/api/v1/repositories" in paths and "/api/v1/gc" in paths
    scanning = [
        "/api/v1/scan-policies",
        "/api/v1/vulndb",
        "/api/v1/vulndb/import",
        "/api/v1/vulnerabilities/overdue",
        "/api/v1/repositories/{name}/manifests/{reference}/scan",
    ]
    assert [path for path in scanning if path in paths] == []


def test_scanning_kinds_of_job_are_unknown(client: httpx.Client, repo: str) -> None:
    digest, _ = push_image(client, repo, "v1")
    for kind, args in (
        ("scan", {"repository": repo, "digest": digest}),
        ("vulndb-update", {}),
        ("reevaluate", {}),
    ):
        response = client.post("/api/v1/jobs", json={"kind": kind, "args": args})
        assert (response.status_code, error_code(response)) == (400, "JOB_INVALID")
        message = response.json()["errors"][0]["message"]
        known = "audit-purge, gc, lifecycle, signature-verdicts"
        assert message == f"unknown job kind {kind!r}; known kinds: {known}"
    gc = client.post("/api/v1/jobs", json={"kind": "gc", "args": {"dryRun": True}})
    assert gc.status_code == 202, gc.text


def test_a_pushed_image_is_pulled_whole(client: httpx.Client, repo: str) -> None:
    """No pull gate stands in the way."""
    _, body = push_image(client, repo, "v1", layers=[b"one", b"two"])
    pulled = client.get(f"/v2/{repo}/manifests/v1")
    assert pulled.status_code == 200 and pulled.content == body
    layer = json.loads(body)["layers"][1]["digest"]
    assert client.get(f"/v2/{repo}/blobs/{layer}").content == b"two"


def _loaded_modules(data_dir: Path, scanning: str, code: str) -> list[str]:
    """Run `code` in a fresh interpreter with the settings a server process gets; return the
    scanner modules it loaded."""
    env = {**os.environ, "CARGOHOLD_DATA_DIR": str(data_dir), "CARGOHOLD_SCANNING": scanning}
    script = f"""
import sys
from cargohold.config import SETTINGS_ENV, load_settings
from cargohold.server import prepare
settings = load_settings()
prepare(settings)
{code}
scanner = {SCANNER_MODULES!r}
inside = tuple(name + "." for name in scanner)
print(sorted(m for m in sys.modules if m in scanner or m.startswith(inside)))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1].replace("'", '"'))


# What a server process runs (api.app.app_from_env) and what `cargohold worker` builds.
SERVE = """
import os
os.environ[SETTINGS_ENV] = settings.to_json()
from cargohold.api.app import app_from_env
app_from_env()
"""
WORK = """
from cargohold.wiring import build_services
build_services(settings, lean=True)
"""


@pytest.mark.parametrize("code", [SERVE, WORK], ids=["server", "worker"])
def test_processes_with_scanning_off_never_import_the_scanner(tmp_path: Path, code: str) -> None:
    assert _loaded_modules(tmp_path / "off", "false", code) == []
    # The check can see them: with scanning on, the same process loads them.
    assert "cargohold.services.scanning" in _loaded_modules(tmp_path / "on", "true", code)
