"""Importing vulnerability records through the admin API and `vulndb import --registry`:
an import that would empty a source needs allowEmpty, and zip bombs are refused."""

from __future__ import annotations

import io
import json
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.oci import error_code
from tests.support.server import CARGOHOLD, CargoholdServer
from tests.vulndb.conftest import osv


def _zip(*records: dict[str, object]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for record in records:
            archive.writestr(f"{record['id']}.json", json.dumps(record))
    return buffer.getvalue()


def _bomb(member_bytes: int) -> bytes:
    """One member of `member_bytes` zeros, about a thousand times smaller zipped."""
    buffer = io.BytesIO()
    chunk = b"0" * (1 << 20)
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("BOMB-1.json", "w", force_zip64=True) as member,
    ):
        for _ in range(member_bytes // len(chunk)):
            member.write(chunk)
    return buffer.getvalue()


def _records(client: httpx.Client, source: str) -> int | None:
    sources = client.get("/api/v1/vulndb").json()["sources"]
    return next((s["records"] for s in sources if s["name"] == source), None)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CARGOHOLD, *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_an_import_that_would_empty_a_source_needs_allow_empty(
    client: httpx.Client, repo: str
) -> None:
    source = f"{repo}-osv"
    imported = client.post(
        "/api/v1/vulndb/import", params={"name": source}, content=_zip(osv(f"{repo}-1"))
    )
    assert imported.status_code == 200, imported.text
    assert _records(client, source) == 1

    empty = _zip()
    refused = client.post("/api/v1/vulndb/import", params={"name": source}, content=empty)
    assert (refused.status_code, error_code(refused)) == (409, "VULNDB_IMPORT_REFUSED")
    message = refused.json()["errors"][0]["message"]
    assert f"holds none of the 1 records of source {source!r}" in message
    assert "allowEmpty=true" in message
    assert _records(client, source) == 1

    bad = client.post(
        "/api/v1/vulndb/import", params={"name": source, "allowEmpty": "yes"}, content=empty
    )
    assert (bad.status_code, error_code(bad)) == (400, "VULNDB_IMPORT_INVALID")

    emptied = client.post(
        "/api/v1/vulndb/import", params={"name": source, "allowEmpty": "true"}, content=empty
    )
    assert emptied.status_code == 200, emptied.text
    assert emptied.json()["removed"] == 1
    assert _records(client, source) == 0


def test_cli_refuses_to_empty_a_source_without_allow_empty(
    registry: CargoholdServer, client: httpx.Client, repo: str, tmp_path: Path
) -> None:
    source = f"{repo}-cli"
    export = tmp_path / "all.zip"
    export.write_bytes(_zip(osv(f"{repo}-1"), osv(f"{repo}-2")))
    url = ["--registry", registry.url, "--name", source]
    assert _cli("vulndb", "import", str(export), *url).returncode == 0
    export.write_bytes(_zip())
    refused = _cli("vulndb", "import", str(export), *url)
    assert refused.returncode == 1
    [line] = refused.stderr.strip().splitlines()
    assert line.startswith("error: ") and "VULNDB_IMPORT_REFUSED" in line
    assert "--allow-empty" in line
    assert _records(client, source) == 2
    done = _cli("vulndb", "import", str(export), *url, "--allow-empty")
    assert done.returncode == 0, done.stderr
    assert _records(client, source) == 0


@pytest.fixture
def low_limits_server(tmp_path: Path) -> Iterator[CargoholdServer]:
    server = CargoholdServer(
        tmp_path / "data",
        extra_env={
            "CARGOHOLD_VULNDB_ZIP_MEMBER_MAX_BYTES": str(4 << 20),
            "CARGOHOLD_VULNDB_ZIP_MAX_RATIO": "50",
        },
    ).start()
    yield server
    server.stop()


def test_zip_bombs_are_refused(low_limits_server: CargoholdServer) -> None:
    with httpx.Client(
        base_url=low_limits_server.url, auth=low_limits_server.admin_auth, timeout=60
    ) as client:
        big = _bomb(256 << 20)
        assert len(big) < 1 << 20
        response = client.post("/api/v1/vulndb/import", params={"name": "bomb"}, content=big)
        assert (response.status_code, error_code(response)) == (400, "VULNDB_IMPORT_INVALID")
        message = response.json()["errors"][0]["message"]
        assert "member 'BOMB-1.json' is larger than 4,194,304 bytes uncompressed" in message

        dense = _bomb(3 << 20)  # under the member cap, but expanding about 1000 times
        response = client.post("/api/v1/vulndb/import", params={"name": "bomb"}, content=dense)
        assert (response.status_code, error_code(response)) == (400, "VULNDB_IMPORT_INVALID")
        assert "over 50x (vulndb_zip_max_ratio)" in response.json()["errors"][0]["message"]
        assert _records(client, "bomb") is None

        ordinary = _zip(*(osv(f"OK-{n}") for n in range(50)))
        response = client.post("/api/v1/vulndb/import", params={"name": "ok"}, content=ordinary)
        assert response.status_code == 200, response.text
        assert _records(client, "ok") == 50
