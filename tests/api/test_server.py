"""The server process: TLS, the structured access log, restarts that lose nothing."""

from __future__ import annotations

import json
import ssl
import subprocess
from pathlib import Path

import httpx

from tests.support.oci import error_code, push_image, sha256
from tests.support.server import CargoholdServer


def test_tls_serves_https(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    server = CargoholdServer(
        tmp_path / "data",
        extra_env={"CARGOHOLD_TLS_CERT": str(cert), "CARGOHOLD_TLS_KEY": str(key)},
        scheme="https",
    ).start()
    try:
        response = httpx.get(
            f"{server.url}/v2/",
            verify=ssl.create_default_context(cafile=str(cert)),
            auth=server.admin_auth,
            timeout=10,
        )
        assert response.status_code == 200
        assert server.url.startswith("https://")
    finally:
        server.stop()


def test_access_log_lines_are_structured(tmp_path: Path) -> None:
    server = CargoholdServer(tmp_path / "data").start()
    try:
        response = httpx.get(
            f"{server.url}/v2/", headers={"X-Request-Id": "trace-me-42"}, auth=server.admin_auth
        )
        assert response.headers["X-Request-Id"] == "trace-me-42"
        generated = httpx.get(f"{server.url}/v2/nope/tags/list", auth=server.admin_auth).headers[
            "X-Request-Id"
        ]
    finally:
        server.stop()
    entries = [
        json.loads(line)
        for line in server.log_path.read_text().splitlines()
        if line.startswith("{") and '"cargohold.access"' in line
    ]
    by_id = {entry["request_id"]: entry for entry in entries}
    assert by_id["trace-me-42"]["method"] == "GET"
    assert by_id["trace-me-42"]["path"] == "/v2/"
    assert by_id["trace-me-42"]["status"] == 200
    assert by_id["trace-me-42"]["bytes"] == 2
    assert by_id["trace-me-42"]["duration_ms"] >= 0
    assert by_id[generated]["status"] == 404


def test_access_log_counts_the_bytes_of_blobs_the_server_sends_itself(tmp_path: Path) -> None:
    # A blob GET is sent by the HTTP server from the file (ASGI pathsend), not through the
    # app: the line counts what Content-Length promised; a HEAD sends no body.
    layer = b"sent by the server itself" * 100
    server = CargoholdServer(tmp_path / "data").start()
    try:
        with httpx.Client(base_url=server.url, auth=server.admin_auth) as http:
            push_image(http, "team/app", "v1", layers=[layer])
            url = f"/v2/team/app/blobs/{sha256(layer)}"
            got = http.get(url, headers={"X-Request-Id": "blob-get"})
            assert got.content == layer
            http.head(url, headers={"X-Request-Id": "blob-head"})
    finally:
        server.stop()
    entries = [
        json.loads(line)
        for line in server.log_path.read_text().splitlines()
        if line.startswith("{") and '"cargohold.access"' in line
    ]
    by_id = {entry["request_id"]: entry for entry in entries}
    assert by_id["blob-get"]["bytes"] == len(layer)
    assert (by_id["blob-head"]["status"], by_id["blob-head"]["bytes"]) == (200, 0)


def test_a_restart_loses_nothing(tmp_path: Path) -> None:
    server = CargoholdServer(tmp_path / "data").start()
    try:
        with httpx.Client(base_url=server.url, auth=server.admin_auth) as http:
            _, body = push_image(http, "team/app", "v1", layers=[b"persist me"])
        server.restart()
        with httpx.Client(base_url=server.url, auth=server.admin_auth) as http:
            got = http.get("/v2/team/app/manifests/v1")
            assert got.content == body
            assert http.get("/v2/_catalog").json()["repositories"] == ["team/app"]
    finally:
        server.stop()


def test_read_only_mode_serves_pulls_and_denies_every_change(tmp_path: Path) -> None:
    server = CargoholdServer(tmp_path / "data").start()
    try:
        with httpx.Client(base_url=server.url, auth=server.admin_auth) as http:
            digest, body = push_image(http, "team/app", "v1", layers=[b"frozen"])
            location = http.post("/v2/team/app/blobs/uploads/").headers["Location"]
        server.extra_env["CARGOHOLD_READ_ONLY"] = "true"
        server.restart()
        with httpx.Client(base_url=server.url, auth=server.admin_auth) as http:
            assert http.get("/v2/team/app/manifests/v1").content == body
            assert http.get("/v2/team/app/tags/list").json()["tags"] == ["v1"]
            attempts = [
                http.post("/v2/team/app/blobs/uploads/"),
                http.post(
                    "/v2/team/app/blobs/uploads/", params={"digest": sha256(b"x")}, content=b"x"
                ),
                http.post("/v2/other/blobs/uploads/", params={"mount": digest, "from": "team/app"}),
                http.patch(location, content=b"more"),
                http.put(location, params={"digest": sha256(b"")}),
                http.put(
                    "/v2/team/app/manifests/v2",
                    content=body,
                    headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
                ),
                http.delete("/v2/team/app/manifests/v1"),
                http.delete(f"/v2/team/app/manifests/{digest}"),
                http.delete(f"/v2/team/app/blobs/{sha256(b'frozen')}"),
            ]
            for response in attempts:
                assert response.status_code == 403, (response.request.method, response.text)
                assert error_code(response) == "DENIED"
                assert "read-only" in response.json()["errors"][0]["message"]
            assert http.get("/v2/team/app/manifests/v1").status_code == 200
    finally:
        server.stop()
