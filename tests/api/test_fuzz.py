"""A seeded fuzz corpus against a real server: malformed input never gets a 5xx.

Every answer is a success or a 4xx in the registry's error format. The corpus covers
repository names, digests, tags and references, manifests (many kinds of mutation), Range
and Content-Range headers, Content-Length, query parameters, ids in paths, and JSON bodies
for every admin operation. Admin operations and their query parameters are read from the
server's OpenAPI document, so a new route is fuzzed without touching this file.

The generation is seeded: a failure names the request, and reruns send the same corpus
(`CARGOHOLD_FUZZ_SEED=N` sends another one).
SQLite gets the whole corpus; PostgreSQL a slice of it.
"""

from __future__ import annotations

import copy
import json
import os
import random
import re
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.support.oci import (
    OCI_INDEX,
    OCI_MANIFEST,
    digest_of,
    encode,
    image_manifest,
    put_manifest,
)
from tests.support.server import CargoholdServer

# CARGOHOLD_FUZZ_SEED explores another corpus; the default one is what CI runs.
SEED = int(os.environ.get("CARGOHOLD_FUZZ_SEED", "20261204"))
INT64_MAX = 2**63 - 1
REPO = "fuzz/app"
PROJECT = "fuzz"

# Strings that have broken parsers: Unicode digits, NUL, surrogates, separators, lengths.
NASTY_STRINGS = [
    "",
    " ",
    "a",
    "A",
    "²",
    "٣",
    "1²",
    "+1",
    "-1",
    "1_0",
    " 1",
    "0x10",
    "1e3",
    "NaN",
    "Infinity",
    "\x00",
    "a\x00b",
    "\ud800",
    "é",
    "\u202e",
    "..",
    "../..",
    "/",
    "//",
    "a//b",
    "a/",
    "-a",
    "_a",
    "a" * 129,
    "a" * 256,
    "9" * 30,
    "9" * 5000,
    str(2**63),
    str(2**64),
    str(INT64_MAX),
    "%",
    "%00",
    "%zz",
    "*",
    "[",
    "(?:",
    "sha256:",
    "sha256:" + "a" * 63,
    "sha256:" + "A" * 64,
    "sha256:" + "a" * 64,
    "sha512:" + "a" * 128,
    "md5:" + "a" * 32,
    "latest",
    ".INVALID_MANIFEST_NAME",
    "v1",
]
NASTY_NUMBERS: list[Any] = [
    0,
    -1,
    1,
    2**31,
    2**32,
    INT64_MAX,
    2**63,
    -(2**63),
    -(2**63) - 1,
    2**64,
    10**30,
    10**400,
    0.5,
    -0.0,
    2.0,
    1e308,
    True,
    False,
    None,
]
# Words the admin bodies understand, so mutations reach past the first check. No job kind
# that deletes (gc, lifecycle) and nothing outside the fuzz project is named.
WORDS = [
    "project",
    "repository",
    "image",
    "immutable",
    "deny-latest",
    "glob",
    "regex",
    "tagged",
    "untagged",
    "any",
    "imageCountMoreThan",
    "sinceImagePushed",
    "sinceImagePulled",
    "days",
    "expire",
    "transition",
    "standard",
    "CRITICAL",
    "HIGH",
    "reevaluate",
    "scan",
    "2027-01-31",
    "9999-12-31T23:59:59-23:59",
    "0001-01-01T00:00:00+23:59",
    "CVE-2024-0001",
    PROJECT,
    REPO,
]
KEYS = [
    "kind",
    "scope",
    "target",
    "pattern",
    "patternKind",
    "excludes",
    "digest",
    "reason",
    "until",
    "limitBytes",
    "args",
    "repository",
    "rescan",
    "scanOnPush",
    "preventSeverity",
    "preventUnscanned",
    "id",
    "expiresAt",
    "rules",
    "rulePriority",
    "description",
    "selection",
    "action",
    "type",
    "tagStatus",
    "tagPrefixList",
    "tagPatternList",
    "countType",
    "countUnit",
    "countNumber",
    "storageClass",
    "schemaVersion",
    "mediaType",
    "size",
    "annotations",
]
# A valid body per admin operation (by path template), so mutations stay close to valid.
VALID_BODIES: dict[str, Any] = {
    "/api/v1/tag-rules": {
        "kind": "immutable",
        "scope": "project",
        "target": PROJECT,
        "pattern": "v*",
        "patternKind": "glob",
        "excludes": [],
    },
    "/api/v1/holds": {
        "scope": "repository",
        "target": REPO,
        "reason": "fuzz",
        "until": "2027-01-31",
    },
    "/api/v1/projects/{project}/quota": {"limitBytes": 10**12},
    "/api/v1/projects/{project}/scan-policy": {
        "scanOnPush": False,
        "preventSeverity": "CRITICAL",
        "preventUnscanned": False,
    },
    "/api/v1/cve-allowlist": {
        "id": "CVE-2024-0001",
        "project": PROJECT,
        "reason": "fuzz",
        "expiresAt": 1900000000,
    },
    "/api/v1/jobs": {"kind": "reevaluate", "args": {}},
    "/api/v1/repositories/{name}/lifecycle": {
        "rules": [
            {
                "rulePriority": 1,
                "description": "fuzz",
                "selection": {
                    "tagStatus": "tagged",
                    "tagPrefixList": ["never"],
                    "countType": "imageCountMoreThan",
                    "countNumber": 1000,
                },
                "action": {"type": "expire"},
            }
        ]
    },
}
VALID_BODIES["/api/v1/repositories/{name}/lifecycle/preview"] = VALID_BODIES[
    "/api/v1/repositories/{name}/lifecycle"
]


_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


class Checker:
    """Sends requests and collects every answer that is a 5xx or not in the error format."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.failures: list[str] = []
        self.sent = 0

    def send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        self.sent += 1
        headers = kwargs.get("headers")
        if headers:
            # Bytes without control characters or outer whitespace, which HTTP cannot carry.
            kwargs["headers"] = {
                k: _CONTROL.sub(
                    b"", v.encode("utf-8", "surrogatepass") if isinstance(v, str) else v
                ).strip()
                for k, v in headers.items()
            }
        params = kwargs.pop("params", None)
        if params:
            # Encoded here: httpx refuses lone surrogates, which are part of the corpus.
            url += "?" + "&".join(f"{_segment(k)}={_segment(v)}" for k, v in params.items())
        response = self.client.request(method, url, **kwargs)
        problem = _problem(method, response)
        if problem:
            headers = kwargs.get("headers")
            body = kwargs.get("content")
            self.failures.append(
                f"{method} {url[:200]} headers={headers!r:.200} body={body!r:.300}: {problem}"
            )
        return response

    def assert_clean(self) -> None:
        assert self.sent > 0
        assert not self.failures, f"{len(self.failures)} of {self.sent} failed:\n" + "\n".join(
            self.failures[:25]
        )


def _problem(method: str, response: httpx.Response) -> str | None:
    if response.status_code >= 500:
        return f"{response.status_code} {response.text[:300]}"
    if response.status_code < 400 or method == "HEAD":
        return None
    try:
        body = response.json()
        errors = body["errors"]
        assert isinstance(errors, list) and errors
        for error in errors:
            assert isinstance(error["code"], str) and error["code"]
            assert isinstance(error["message"], str)
    except (ValueError, KeyError, TypeError, AssertionError):
        return f"{response.status_code} not in the error format: {response.text[:300]}"
    return None


def _share(server: CargoholdServer) -> int:
    """How many cases per category: the whole corpus on SQLite, a slice on PostgreSQL."""
    return 1 if not server.database_url else 3


def _cases(items: list[Any], server: CargoholdServer) -> list[Any]:
    return items[:: _share(server)]


def _segment(text: str, keep_slashes: bool = False) -> str:
    """A path segment that reaches the server as `text` (percent-encoded as needed)."""
    encoded = text.encode("utf-8", "surrogatepass")
    return quote(encoded, safe="/" if keep_slashes else "")


def _garble(rng: random.Random, base: str) -> str:
    """A mutation of `base`: a nasty string, or `base` with characters inserted or cut."""
    choice = rng.randrange(5)
    if choice == 0:
        return rng.choice(NASTY_STRINGS)
    if choice == 1 and base:
        cut = rng.randrange(len(base))
        return base[:cut] + base[cut + 1 :]
    if choice == 2:
        at = rng.randrange(len(base) + 1)
        return base[:at] + rng.choice(NASTY_STRINGS) + base[at:]
    if choice == 3:
        return base * rng.randint(2, 40)
    return base.upper() if rng.random() < 0.5 else base + rng.choice(NASTY_STRINGS)


def _random_json(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 3 or roll < 0.45:
        pool = rng.randrange(3)
        if pool == 0:
            return rng.choice(NASTY_NUMBERS)
        if pool == 1:
            return rng.choice(NASTY_STRINGS)
        return rng.choice(WORDS)
    if roll < 0.75:
        return {rng.choice(KEYS): _random_json(rng, depth + 1) for _ in range(rng.randint(0, 5))}
    return [_random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]


def _paths(document: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a node of a JSON document."""
    found = [prefix]
    if isinstance(document, dict):
        for key, value in document.items():
            found.extend(_paths(value, (*prefix, key)))
    elif isinstance(document, list):
        for i, value in enumerate(document):
            found.extend(_paths(value, (*prefix, i)))
    return found


def _mutate_document(rng: random.Random, document: Any) -> Any:
    """`document` with one node replaced, removed, or given an unexpected sibling."""
    mutated = copy.deepcopy(document)
    path = rng.choice(_paths(mutated))
    if not path:
        return _random_json(rng)
    parent = mutated
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    action = rng.randrange(4)
    if action == 0:
        del parent[last]
    elif action == 1 and isinstance(parent, dict):
        parent[rng.choice(KEYS)] = _random_json(rng)
    else:
        parent[last] = _random_json(rng)
    return mutated


def _body_bytes(rng: random.Random, document: Any) -> bytes:
    """A document as bytes, sometimes broken at the byte level after encoding."""
    text = json.dumps(document).encode()
    roll = rng.randrange(12)
    if roll == 0 and text:
        return text[: rng.randrange(len(text))]
    if roll == 1 and isinstance(document, dict) and document:
        key = json.dumps(next(iter(document)))
        return text[:-1] + f",{key}:{json.dumps(_random_json(rng))}}}".encode()
    if roll == 2:
        return json.dumps(document).encode("utf-16")
    if roll == 3:
        return b"\xef\xbb\xbf" + text
    if roll == 4:
        depth = rng.choice((100, 1000, 5000))
        return b"[" * depth + b"]" * depth
    if roll == 5:
        return b'{"a":' * 1200 + b"1" + b"}" * 1200
    if roll == 6 and text:
        at = rng.randrange(len(text))
        return text[:at] + bytes([rng.randrange(256)]) + text[at + 1 :]
    if roll == 7:
        return rng.choice((b"", b"null", b"NaN", b"-Infinity", b"1e999", b"\xff\xfe", b"{"))
    return text


@pytest.fixture
def fuzz_client(registry: CargoholdServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=registry.url, auth=registry.admin_auth, timeout=60) as http:
        yield http


@pytest.fixture
def pushed(fuzz_client: httpx.Client) -> dict[str, Any]:
    """An image, a blob and an index in the fuzz repository, to aim the corpus at."""
    document = image_manifest(fuzz_client, REPO, layers=[b"fuzz layer"])
    body = encode(document)
    assert put_manifest(fuzz_client, REPO, "v1", body, OCI_MANIFEST).status_code == 201
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": digest_of(body), "size": len(body)}],
    }
    assert put_manifest(fuzz_client, REPO, "index", index).status_code == 201
    return {
        "document": document,
        "index": index,
        "manifest_digest": digest_of(body),
        "layer_digest": document["layers"][0]["digest"],
        "layer_size": document["layers"][0]["size"],
    }


def test_fuzz_repository_names(
    registry: CargoholdServer, fuzz_client: httpx.Client, pushed: dict[str, Any]
) -> None:
    rng = random.Random(SEED + 1)
    check = Checker(fuzz_client)
    names = [_garble(rng, REPO) for _ in range(120)]
    for name in _cases(names, registry):
        path = _segment(name, keep_slashes=rng.random() < 0.8)
        check.send("GET", f"/v2/{path}/manifests/v1")
        check.send("GET", f"/v2/{path}/tags/list")
        check.send("HEAD", f"/v2/{path}/blobs/{pushed['layer_digest']}")
        check.send("POST", f"/v2/{path}/blobs/uploads/")
        check.send("GET", f"/api/v1/repositories/{path}/tags")
    check.assert_clean()


def test_fuzz_digests_and_references(
    registry: CargoholdServer, fuzz_client: httpx.Client, pushed: dict[str, Any]
) -> None:
    rng = random.Random(SEED + 2)
    check = Checker(fuzz_client)
    references = [
        _garble(rng, rng.choice((pushed["manifest_digest"], pushed["layer_digest"], "v1")))
        for _ in range(150)
    ]
    for reference in _cases(references, registry):
        ref = _segment(reference)
        check.send(rng.choice(("GET", "HEAD")), f"/v2/{REPO}/manifests/{ref}")
        check.send(rng.choice(("GET", "HEAD")), f"/v2/{REPO}/blobs/{ref}")
        check.send("GET", f"/v2/{REPO}/referrers/{ref}")
        check.send("DELETE", f"/v2/{REPO}-gone/manifests/{ref}")
        check.send("DELETE", f"/v2/{REPO}-gone/blobs/{ref}")
        check.send("POST", f"/v2/{REPO}/blobs/uploads/", params={"mount": reference, "from": REPO})
        check.send(
            "POST", f"/v2/{REPO}-mono/blobs/uploads/", params={"digest": reference}, content=b"x"
        )
        check.send("GET", f"/api/v1/repositories/{REPO}/manifests/{ref}/scan")
    check.assert_clean()


CONTENT_TYPES = [
    None,
    OCI_MANIFEST,
    OCI_INDEX,
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
    "application/vnd.oci.artifact.manifest.v1+json",
    "application/json",
    "application/octet-stream",
    "text/plain; charset=utf-8",
    "x",
    "a/" + "b" * 300,
    "application/vnd.example+json; x=y",
]


def _mutate_manifest(rng: random.Random, pushed: dict[str, Any]) -> tuple[bytes, str | None]:
    document = copy.deepcopy(rng.choice((pushed["document"], pushed["index"])))
    kind = rng.randrange(10)
    if kind == 0:
        descriptors = document.get("layers") or document.get("manifests")
        descriptors[0]["size"] = rng.choice(NASTY_NUMBERS)
    elif kind == 1:
        descriptors = document.get("layers") or document.get("manifests")
        descriptors[0]["digest"] = _garble(rng, descriptors[0]["digest"])
    elif kind == 2:
        document[rng.choice(("annotations", "subject", "artifactType", "config", "layers"))] = (
            _random_json(rng)
        )
    elif kind == 3:
        document["schemaVersion"] = rng.choice([*NASTY_NUMBERS, "2", 2])
    elif kind == 4:
        foreign = {
            "mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
            "digest": digest_of(str(rng.random()).encode()),
            "size": rng.choice(NASTY_NUMBERS),
            "urls": rng.choice((["https://example.com/l"], [], None, "u", [1])),
        }
        document.setdefault("layers", []).append(foreign)
    elif kind == 5:
        document["mediaType"] = rng.choice([c for c in CONTENT_TYPES if c] + NASTY_STRINGS)
    elif kind == 6:
        document["subject"] = {
            "mediaType": OCI_MANIFEST,
            "digest": rng.choice((pushed["manifest_digest"], digest_of(b"absent"))),
            "size": rng.choice(NASTY_NUMBERS),
        }
    else:
        document = _mutate_document(rng, document)
    body = _body_bytes(rng, document) if rng.random() < 0.4 else json.dumps(document).encode()
    declared = document.get("mediaType") if isinstance(document, dict) else None
    content_type = rng.choice(CONTENT_TYPES) if rng.random() < 0.3 else declared
    if not isinstance(content_type, str):
        content_type = None
    return body, content_type


def test_fuzz_manifests(
    registry: CargoholdServer, fuzz_client: httpx.Client, pushed: dict[str, Any]
) -> None:
    rng = random.Random(SEED + 3)
    check = Checker(fuzz_client)
    mutations = [_mutate_manifest(rng, pushed) for _ in range(500)]
    for body, content_type in _cases(mutations, registry):
        reference = rng.choice(("fuzzed", digest_of(body), _garble(rng, "fuzzed")))
        headers = {"Content-Type": content_type} if content_type else {}
        check.send(
            "PUT", f"/v2/{REPO}/manifests/{_segment(reference)}", content=body, headers=headers
        )
    # Whatever was stored, every report over it still answers.
    for path in ("/api/v1/storage", "/api/v1/system", f"/api/v1/repositories/{REPO}/tags"):
        check.send("GET", path)
    check.send("POST", f"/api/v1/repositories/{REPO}/lifecycle/preview", content=b"")
    check.assert_clean()


RANGE_PARTS = ["", "0", "1", "5", "²", "٣", "-1", "99999999999999999999", "9" * 5000, " 1", "a"]


def test_fuzz_ranges_content_ranges_and_lengths(
    registry: CargoholdServer, fuzz_client: httpx.Client, pushed: dict[str, Any]
) -> None:
    rng = random.Random(SEED + 4)
    check = Checker(fuzz_client)
    ranges = []
    for _ in range(120):
        first, last = rng.choice(RANGE_PARTS), rng.choice(RANGE_PARTS)
        unit = rng.choice(("bytes=", "bytes=", "bytes =", "items=", ""))
        extra = rng.choice(("", "", ",0-1", "/10", "-"))
        ranges.append(f"{unit}{first}-{last}{extra}")
    for value in _cases(ranges, registry):
        # h11 sends no header value with outer whitespace.
        value = value.strip()
        encoded = value.encode("latin-1", "replace") if rng.random() < 0.5 else value.encode()
        check.send("GET", f"/v2/{REPO}/blobs/{pushed['layer_digest']}", headers={"Range": encoded})
    location = check.send("POST", f"/v2/{REPO}/blobs/uploads/").headers["Location"]
    for value in _cases(ranges, registry):
        content_range = value.replace("bytes=", rng.choice(("", "bytes "))).strip()
        encoded = content_range.encode("latin-1", "replace")
        response = check.send(
            "PATCH", location, content=b"abcd", headers={"Content-Range": encoded}
        )
        location = response.headers.get("Location", location)
        check.send(
            "PUT",
            location,
            params={"digest": rng.choice((digest_of(b"abcd"), _garble(rng, digest_of(b"x"))))},
            headers={"Content-Range": encoded},
        )
        if rng.random() < 0.2:
            location = check.send("POST", f"/v2/{REPO}/blobs/uploads/").headers["Location"]
    check.assert_clean()
    # Content-Length cannot be malformed through httpx: raw requests.
    lengths = ["²", "-1", "1e3", "+4", " 4", "4, 4", str(2**63), "9" * 5000, "0x4", "٣"]
    for length in lengths[:: _share(registry)]:
        for target in (location, f"/v2/{REPO}/manifests/raw", "/api/v1/holds"):
            method = "PUT" if "manifests" in target else ("POST" if "holds" in target else "PATCH")
            status = _raw_status(
                registry,
                f"{method} {target} HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n"
                "Connection: close\r\n\r\nabcd".encode(),
            )
            assert status < 500, (target, length, status)


def _raw_status(server: CargoholdServer, request: bytes) -> int:
    """The status of a raw request; the client sends nothing more (a declared length that is
    never sent ends in a disconnect the server must answer or drop, not hang on)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while b"\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    if not answer:
        return 0  # closed without an answer: the server refused the request line or headers
    match = re.match(rb"HTTP/1\.[01] (\d{3})", answer)
    assert match is not None, answer[:200]
    return int(match.group(1))


def _openapi_operations(client: httpx.Client) -> list[tuple[str, str, dict[str, Any]]]:
    document = client.get("/api/v1/openapi.json").json()
    operations = []
    for path, item in document["paths"].items():
        shared = item.get("parameters", [])
        for method, operation in item.items():
            if method == "parameters":
                continue
            operation = {**operation, "parameters": shared + operation.get("parameters", [])}
            operations.append((method.upper(), path, operation))
    assert len(operations) > 20
    return operations


def _fill(rng: random.Random, template: str, garble: bool) -> str:
    """The path with its parameters filled in: fuzz targets, or nasty values with `garble`."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        base = {"name": REPO, "project": PROJECT, "reference": "v1"}.get(name)
        if base is None:  # an id
            base = str(rng.randrange(1, 50))
            return _segment(rng.choice(NASTY_STRINGS) if garble else base)
        return _segment(_garble(rng, base) if garble else base, keep_slashes=name == "name")

    return re.sub(r"\{([^}]+)\}", value, template)


def _admin_state(client: httpx.Client) -> dict[str, set[int]]:
    return {
        "tag-rules": {r["id"] for r in client.get("/api/v1/tag-rules").json()["rules"]},
        "holds": {h["id"] for h in client.get("/api/v1/holds").json()["holds"]},
        "cve-allowlist": {e["id"] for e in client.get("/api/v1/cve-allowlist").json()["entries"]},
    }


@pytest.fixture
def admin_cleanup(fuzz_client: httpx.Client) -> Iterator[None]:
    """Whatever the fuzzed bodies created is removed: the server is shared by a session."""
    before = _admin_state(fuzz_client)
    yield
    after = _admin_state(fuzz_client)
    for kind, ids in after.items():
        for created in sorted(ids - before[kind]):
            fuzz_client.delete(f"/api/v1/{kind}/{created}")
    for path in (
        f"/api/v1/projects/{PROJECT}/quota",
        f"/api/v1/projects/{PROJECT}/scan-policy",
        f"/api/v1/repositories/{REPO}/lifecycle",
    ):
        fuzz_client.delete(path)
    assert _admin_state(fuzz_client) == before


def test_fuzz_admin_bodies_for_every_operation(
    registry: CargoholdServer,
    fuzz_client: httpx.Client,
    pushed: dict[str, Any],
    admin_cleanup: None,
) -> None:
    rng = random.Random(SEED + 5)
    check = Checker(fuzz_client)
    with_bodies = [
        (method, path)
        for method, path, operation in _openapi_operations(fuzz_client)
        if "requestBody" in operation
    ]
    assert ("POST", "/api/v1/holds") in with_bodies
    per_operation = 60 // _share(registry)
    for method, template in with_bodies:
        valid = VALID_BODIES.get(template)
        for _ in range(per_operation):
            if valid is not None and rng.random() < 0.6:
                document = _mutate_document(rng, valid)
            else:
                document = _random_json(rng)
            body = _body_bytes(rng, document)
            if template.endswith("/import"):
                # Never a record with an id: junk must not land in the session's database.
                body = body.replace(b'"id"', b'"ld"')
            check.send(
                method,
                # Path parameters stay the fuzz targets: a body that is valid could otherwise
                # set a quota or policy on a project other tests use. Paths are fuzzed below.
                _fill(rng, template, garble=False),
                content=body,
                headers={"Content-Type": "application/json"},
            )
    check.assert_clean()


def test_fuzz_query_parameters_and_ids_in_paths(
    registry: CargoholdServer,
    fuzz_client: httpx.Client,
    pushed: dict[str, Any],
    admin_cleanup: None,
) -> None:
    rng = random.Random(SEED + 6)
    check = Checker(fuzz_client)
    values = [*NASTY_STRINGS, "true", "false", "0", "1000", "1001", "stored", "json", "sarif"]
    # The OCI routes' own parameters, then every admin operation's from its OpenAPI entry.
    oci = [
        ("GET", "/v2/_catalog", ["n", "last"]),
        ("GET", f"/v2/{REPO}/tags/list", ["n", "last"]),
        ("GET", f"/v2/{REPO}/referrers/{pushed['manifest_digest']}", ["artifactType"]),
        ("POST", f"/v2/{REPO}/blobs/uploads/", ["mount", "from"]),
    ]
    for method, path, names in oci:
        for _ in range(40 // _share(registry)):
            params = {name: rng.choice(values) for name in names if rng.random() < 0.8}
            check.send(method, path, params=params)
    operations = _openapi_operations(fuzz_client)
    for method, template, operation in operations:
        if method in ("PUT", "DELETE") or template.endswith(("/apply", "/import")):
            continue  # changes without a body are covered by ids below; no imports or applies
        names = [p["name"] for p in operation["parameters"] if p.get("in") == "query"]
        for _ in range(16 // _share(registry)):
            params = {name: rng.choice(values) for name in names if rng.random() < 0.8}
            if template == "/api/v1/gc":
                params["dryRun"] = "true"  # a real collection would race other tests' pushes
            check.send(method, _fill(rng, template, garble=rng.random() < 0.3), params=params)
    # Ids and other path parameters of the operations that only read or remove one thing.
    for method, template, _operation in operations:
        if "{" not in template or (method != "GET" and "id}" not in template):
            continue
        for _ in range(12 // _share(registry)):
            check.send(method, _fill(rng, template, garble=True))
    check.assert_clean()
