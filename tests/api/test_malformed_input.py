"""Malformed input answers 4xx with the right error code, never a 500 or a traceback.

Each case here was a 500 once: nesting deep enough for a RecursionError, integers too large
for a database column, Unicode digits that `str.isdigit()` takes and `int()` refuses, an
index chain deeper than Python's recursion limit, and a client that hangs up mid-body.
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import httpx

from tests.api.helpers import assert_error, start_upload
from tests.support.oci import (
    OCI_INDEX,
    OCI_MANIFEST,
    encode,
    image_manifest,
    push_image,
    put_manifest,
    sha256,
)
from tests.support.server import CargoholdServer

DEEP = 1000


def _nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def test_deep_json_is_refused_for_manifests_admin_bodies_and_lifecycle_policies(
    client: httpx.Client, repo: str
) -> None:
    document = image_manifest(client, repo)
    body = encode(document)[:-1] + b',"annotations":{"x":"y"},"extra":' + _nested(DEEP) + b"}"
    assert_error(put_manifest(client, repo, "deep", body, OCI_MANIFEST), 400, "MANIFEST_INVALID")
    deep_list = b"[" * DEEP + b"]" * DEEP
    for path, method, code in (
        ("/api/v1/tag-rules", "POST", "RULE_INVALID"),
        ("/api/v1/holds", "POST", "HOLD_INVALID"),
        ("/api/v1/projects/fuzz/quota", "PUT", "QUOTA_INVALID"),
        ("/api/v1/jobs", "POST", "JOB_INVALID"),
        ("/api/v1/projects/fuzz/scan-policy", "PUT", "SCAN_POLICY_INVALID"),
        ("/api/v1/cve-allowlist", "POST", "ALLOWLIST_INVALID"),
        (f"/api/v1/repositories/{repo}/lifecycle", "PUT", "POLICY_INVALID"),
        (f"/api/v1/repositories/{repo}/lifecycle/preview", "POST", "POLICY_INVALID"),
    ):
        for deep in (_nested(DEEP), deep_list):
            response = client.request(method, path, content=deep)
            assert_error(response, 400, code)


def test_integers_past_64_bits_are_refused(client: httpx.Client, repo: str) -> None:
    for size in (2**63, 2**64, 10**30, -1):
        document = image_manifest(client, repo)
        document["layers"][0]["size"] = size
        response = put_manifest(client, repo, "big", document)
        assert_error(response, 400, "MANIFEST_INVALID")
    for limit in (2**63, 10**40):
        response = client.put(
            "/api/v1/projects/fuzz/quota", content=f'{{"limitBytes": {limit}}}'.encode()
        )
        assert_error(response, 400, "QUOTA_INVALID")
    for expires in (2**63, 10**40, -5):
        response = client.post(
            "/api/v1/cve-allowlist",
            content=f'{{"id": "CVE-2024-0001", "expiresAt": {expires}}}'.encode(),
        )
        assert_error(response, 400, "ALLOWLIST_INVALID")
    for path, code in (
        ("/api/v1/holds/", "HOLD_UNKNOWN"),
        ("/api/v1/tag-rules/", "RULE_UNKNOWN"),
        ("/api/v1/cve-allowlist/", "ALLOWLIST_UNKNOWN"),
    ):
        for raw in (str(2**63), str(2**64), "9" * 5000, "%C2%B2", "%D9%A3", "-1", "+1", "1_0"):
            assert_error(client.delete(path + raw), 404, code)


def _header_bytes(value: str) -> bytes:
    """Latin-1 where it can be (as `\xb2` reaches the server), UTF-8 otherwise."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode()


def test_unicode_digits_are_not_numbers(client: httpx.Client, repo: str) -> None:
    push_image(client, repo, "v1")
    for path in (
        "/v2/_catalog",
        f"/v2/{repo}/tags/list",
        "/api/v1/repositories",
        "/api/v1/audit",
        "/api/v1/jobs",
    ):
        for n in ("²", "٣", "1²", "+1", " 1", "1_000", "9" * 5000):
            response = client.get(path, params={"n": n})
            assert_error(response, 400, "PAGINATION_NUMBER_INVALID")
    location = start_upload(client, repo)
    for content_range in ("0-\xb2", "\xb2-3", "0-٣", "bytes 0-²/4", "0-" + "9" * 5000, "-1-2"):
        response = client.patch(
            location,
            content=b"abcd",
            headers={"Content-Range": _header_bytes(content_range)},
        )
        assert_error(response, 400, "BLOB_UPLOAD_INVALID")
    response = client.patch(location, content=b"abcd", headers={"Content-Length": "4"})
    assert response.status_code == 202, response.text


def test_strict_json_rules_for_manifests(client: httpx.Client, repo: str) -> None:
    document = image_manifest(client, repo)
    body = encode(document)
    cases: dict[str, bytes] = {
        "duplicate key": body[:-1] + b',"schemaVersion":2}',
        "duplicate key in a descriptor": body.replace(b'"size":', b'"size":1,"size":', 1),
        "UTF-16": json.dumps(document).encode("utf-16"),
        "byte order mark": b"\xef\xbb\xbf" + body,
        "latin-1 byte": body[:-1] + b',"annotations":{"a":"\xe9"}}',
        "NaN": body[:-1] + b',"x":NaN}',
        "lone surrogate": body[:-1] + b',"annotations":{"a":"\\ud800"}}',
        "schemaVersion 2.0": body.replace(b'"schemaVersion":2', b'"schemaVersion":2.0'),
        "schemaVersion string": body.replace(b'"schemaVersion":2', b'"schemaVersion":"2"'),
    }
    annotated: list[dict[str, Any]] = [
        {"annotations": {"a": 1}},
        {"annotations": ["a"]},
        {"annotations": {"a": None}},
        {"artifactType": 7},
        {"artifactType": "not a media type"},
        {"mediaType": "x" * 300},
    ]
    for i, extra in enumerate(annotated):
        cases[f"field {i}"] = encode({**document, **extra})
    layer_annotations = json.loads(body)
    layer_annotations["layers"][0]["annotations"] = {"a": {"b": "c"}}
    cases["descriptor annotations"] = encode(layer_annotations)
    for what, bad in cases.items():
        response = put_manifest(client, repo, "strict", bad, OCI_MANIFEST)
        assert response.status_code == 400, (what, response.text)
        assert_error(response, 400, "MANIFEST_INVALID")
    assert_error(client.get(f"/v2/{repo}/manifests/strict"), 404, "MANIFEST_UNKNOWN")
    assert put_manifest(client, repo, "strict", body, OCI_MANIFEST).status_code == 201


def test_strict_json_rules_for_admin_bodies(client: httpx.Client) -> None:
    for body in (
        b'{"scope": "repository", "scope": "project", "target": "fuzz", "reason": "x"}',
        b'\xef\xbb\xbf{"scope": "project", "target": "fuzz"}',
        b'{"scope": "project", "target": "fuzz", "reason": "\\u0000"}',
        b'{"scope": "project", "target": "fuzz", "reason": "\\udc00"}',
        b'{"scope": "project", "target": "fuzz", "reason": "\xff"}',
    ):
        assert_error(client.post("/api/v1/holds", content=body), 400, "HOLD_INVALID")
    assert client.get("/api/v1/holds").status_code == 200


def test_an_index_chain_deeper_than_the_recursion_limit_lists(
    client: httpx.Client, repo: str
) -> None:
    _, leaf = push_image(client, repo, "leaf")
    child = {"mediaType": OCI_MANIFEST, "digest": sha256(leaf), "size": len(leaf)}
    chain = 1100
    for level in range(chain):
        index = encode({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [child]})
        reference = "top" if level == chain - 1 else sha256(index)
        response = put_manifest(client, repo, reference, index, OCI_INDEX)
        assert response.status_code == 201, (level, response.text)
        child = {"mediaType": OCI_INDEX, "digest": sha256(index), "size": len(index)}
    response = client.get(f"/api/v1/repositories/{repo}/tags")
    assert response.status_code == 200, response.text
    sizes = {row["tag"]: row["sizeBytes"] for row in response.json()["tags"]}
    assert sizes["top"] > sizes["leaf"] > 0
    assert client.get(f"/v2/{repo}/tags/list").json()["tags"] == ["leaf", "top"]
    preview = client.post(f"/api/v1/repositories/{repo}/lifecycle/preview", content=b"")
    assert preview.status_code in (200, 404), preview.text


def _raw(server: CargoholdServer, request: bytes, hang_up: bool = False) -> bytes:
    """Send raw bytes; with `hang_up`, close mid-body instead of reading the answer."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        if hang_up:
            time.sleep(0.2)
            return b""
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer


def test_a_client_that_hangs_up_or_sends_a_bad_chunked_body_is_a_client_error(
    registry: CargoholdServer, client: httpx.Client, repo: str
) -> None:
    location = start_upload(client, repo)
    log_start = registry.log_path.stat().st_size
    malformed = b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"
    for target, code in (
        (f"PATCH {location}", b"BLOB_UPLOAD_INVALID"),
        (f"PUT /v2/{repo}/manifests/v1", b"MANIFEST_INVALID"),
        ("POST /api/v1/holds", b"HOLD_INVALID"),
    ):
        head = (
            f"{target} HTTP/1.1\r\nHost: x\r\nAuthorization: {registry.admin_authorization}\r\n"
        ).encode()
        answer = _raw(registry, head + malformed)
        assert answer.startswith(b"HTTP/1.1 400"), answer[:300]
        assert code in answer, answer
        _raw(registry, head + b"Content-Length: 100000\r\n\r\n" + b"{" * 100, hang_up=True)
    # The server is fine, the upload session too, and nothing was logged as a server error.
    assert client.get(location).status_code == 204
    # Wait for the six requests' log lines (four disconnects, two refused holds).
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        log = registry.log_path.read_bytes()[log_start:].decode(errors="replace")
        if log.count("client disconnected") + log.count("/api/v1/holds 400") >= 6:
            break
        time.sleep(0.1)
    assert "Traceback" not in log, log[-3000:]
    assert "unhandled error" not in log, log[-3000:]
