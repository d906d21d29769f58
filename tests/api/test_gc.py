"""Online garbage collection: what it frees, what it never touches, and races with pushes."""

from __future__ import annotations

import json
import os
import random
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cargohold.meta.scans import ScanStore
from tests.scan.content import debian_base
from tests.scan.imagebuild import ImageSpec, oci_layout
from tests.support.images import push_layout
from tests.support.oci import (
    OCI_MANIFEST,
    digest_of,
    encode,
    manifest_document,
    push_blob,
    push_image,
    put_manifest,
)
from tests.support.server import CARGOHOLD, CargoholdServer
from tests.support.times import seconds


@pytest.fixture
def server(tmp_path: Path) -> Iterator[CargoholdServer]:
    """A server of the test's own that collects unreferenced blobs at once (no grace)."""
    started = CargoholdServer(
        tmp_path / "data", extra_env={"CARGOHOLD_GC_GRACE_SECONDS": "0"}
    ).start()
    yield started
    started.stop()


def _gc(http: httpx.Client, dry_run: bool = False) -> dict[str, Any]:
    response = http.post("/api/v1/gc", params={"dryRun": str(dry_run).lower()}, timeout=120)
    assert response.status_code == 200, response.text
    events = [json.loads(line) for line in response.text.splitlines()]
    assert events[0]["event"] == "start"
    assert events[-1]["event"] == "done", events[-1]
    return {**events[-1]["report"], "start": events[0]}


def _stored_digests(server: CargoholdServer) -> set[str]:
    root = server.data_dir / "blobs" / "blobs"
    return {
        f"{algorithm.name}:{blob.name}"
        for algorithm in root.iterdir()
        for prefix in algorithm.iterdir()
        for blob in prefix.iterdir()
    }


def _referenced(http: httpx.Client) -> set[str]:
    """Every blob digest referenced by a tagged manifest, read through the API."""
    digests: set[str] = set()
    for repository in http.get("/v2/_catalog").json()["repositories"]:
        for tag in http.get(f"/v2/{repository}/tags/list").json()["tags"]:
            document = http.get(f"/v2/{repository}/manifests/{tag}").json()
            digests.add(document["config"]["digest"])
            digests.update(layer["digest"] for layer in document["layers"])
    return digests


def test_gc_frees_only_unreferenced_blobs_and_dry_run_frees_nothing(
    server: CargoholdServer,
) -> None:
    with httpx.Client(base_url=server.url, auth=server.admin_auth, timeout=60) as http:
        _, kept_body = push_image(http, "team/app", "v1", layers=[b"shared", b"kept"])
        doomed, _ = push_image(http, "team/app", "v2", layers=[b"shared", b"doomed"])
        orphan = push_blob(http, "team/app", b"never referenced" * 100)
        assert http.delete(f"/v2/team/app/manifests/{doomed}").status_code == 202
        time.sleep(0.05)

        dry = _gc(http, dry_run=True)
        assert dry["dryRun"] and dry["blobs"] == 2
        assert dry["bytes"] == len(b"doomed") + len(b"never referenced" * 100)
        assert http.get(f"/v2/team/app/blobs/{orphan}").status_code == 200

        report = _gc(http)
        assert (report["blobs"], report["bytes"]) == (dry["blobs"], dry["bytes"])
        assert report["start"]["candidates"] == 2
        assert http.get(f"/v2/team/app/blobs/{orphan}").status_code == 404
        assert digest_of(b"doomed") not in _stored_digests(server)
        assert _stored_digests(server) == _referenced(http)
        # Each collected blob is in the audit log, under the admin who ran the collection.
        events = http.get("/api/v1/audit", params={"action": "blob.delete"}).json()["events"]
        collected = {e["digest"]: e for e in events}
        assert set(collected) == {orphan, digest_of(b"doomed")}
        assert collected[orphan]["detail"]["size"] == len(b"never referenced" * 100)
        for entry in collected.values():
            assert entry["actor"] == "admin" and entry["target"] == entry["digest"]
            assert entry["detail"]["reason"].startswith("garbage collection")
        got = http.get("/v2/team/app/manifests/v1")
        assert got.content == kept_body
        for layer in got.json()["layers"]:
            assert http.get(f"/v2/team/app/blobs/{layer['digest']}").status_code == 200
        assert _gc(http)["blobs"] == 0


def test_recent_blobs_are_never_garbage(registry: CargoholdServer, repo: str) -> None:
    with httpx.Client(base_url=registry.url, auth=registry.admin_auth, timeout=60) as http:
        fresh = push_blob(http, repo, os.urandom(64))
        report = _gc(http)
        assert report["graceSeconds"] == 3600
        assert http.get(f"/v2/{repo}/blobs/{fresh}").status_code == 200


def test_gc_while_clients_push_pull_and_delete(tmp_path: Path) -> None:
    """A one-second grace period, GC in a loop: every tag pushed still pulls back intact."""
    server = CargoholdServer(
        tmp_path / "data", extra_env={"CARGOHOLD_GC_GRACE_SECONDS": "1"}
    ).start()
    pushed: dict[str, tuple[bytes, dict[str, bytes]]] = {}
    lock = threading.Lock()
    stop = threading.Event()
    failures: list[str] = []
    gc_runs = 0
    base = b"a base layer every image shares" * 64

    def client(number: int) -> None:
        rng = random.Random(number)
        repo = f"load/c{number}"
        with httpx.Client(base_url=server.url, auth=server.admin_auth, timeout=60) as http:
            for i in range(12):
                config = json.dumps({"client": number, "i": i}).encode()
                layers = [base, os.urandom(rng.randint(10, 4000))]
                for _attempt in range(5):
                    for blob in (config, *layers):
                        push_blob(http, repo, blob)
                    body = encode(manifest_document(config, layers))
                    response = put_manifest(http, repo, f"t{i}", body, OCI_MANIFEST)
                    if response.status_code == 201:
                        break
                    # A blob was collected between its upload and the manifest: push again.
                    assert response.json()["errors"][0]["code"] == "MANIFEST_BLOB_UNKNOWN"
                else:
                    failures.append(f"{repo}:t{i} never pushed")
                    continue
                with lock:
                    pushed[f"{repo}:t{i}"] = (body, {digest_of(b): b for b in (config, *layers)})
                if i % 3 == 2:  # make garbage: delete an earlier image, manifest and all
                    with lock:
                        victim = pushed.pop(f"{repo}:t{i - 1}", None)
                    if victim is not None:
                        deleted = http.delete(f"/v2/{repo}/manifests/{digest_of(victim[0])}")
                        if deleted.status_code != 202:
                            failures.append(f"delete {repo}:t{i - 1}: {deleted.text}")
                with lock:
                    name, (want, _) = rng.choice(sorted(pushed.items()))
                repository, tag = name.split(":")
                got = http.get(f"/v2/{repository}/manifests/{tag}")
                if got.status_code == 200 and got.content != want:
                    failures.append(f"{name} changed")

    def collector() -> None:
        nonlocal gc_runs
        with httpx.Client(base_url=server.url, auth=server.admin_auth, timeout=120) as http:
            while not stop.is_set() and gc_runs < 200:
                _gc(http)
                gc_runs += 1

    try:
        threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
        gc_thread = threading.Thread(target=collector)
        gc_thread.start()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        stop.set()
        gc_thread.join(timeout=120)
        assert not failures, failures
        assert gc_runs >= 2
        with httpx.Client(base_url=server.url, auth=server.admin_auth, timeout=60) as http:
            for name, (body, blobs) in pushed.items():
                repository, tag = name.split(":")
                assert http.get(f"/v2/{repository}/manifests/{tag}").content == body, name
                for digest, data in blobs.items():
                    got = http.get(f"/v2/{repository}/blobs/{digest}")
                    assert got.status_code == 200 and got.content == data, (name, digest)
            time.sleep(1.5)  # past the grace period of the last uploads
            _gc(http)
            assert _gc(http, dry_run=True)["blobs"] == 0
            assert _stored_digests(server) == _referenced(http)
    finally:
        stop.set()
        server.stop()


def test_gc_deletes_the_scan_report_and_analysis_of_an_image_no_repository_stores(
    server: CargoholdServer, tmp_path: Path
) -> None:
    """Scan reports and analyses are kept by digest; once the last manifest with that digest
    is deleted, a garbage collection (not a dry run) deletes them, and `cargohold gc` says so."""
    layout = oci_layout(tmp_path / "image", ImageSpec(layers=[debian_base()]))
    with server.client(timeout=120) as http:
        digest = push_layout(http, layout, "latest", "team/scanned", "v1")
        base = f"/api/v1/repositories/team/scanned/manifests/{digest}"

        def scanned() -> bool:
            response = http.get(f"{base}/scan")
            return response.status_code == 200 and len(response.json()["platforms"]) == 1

        deadline = time.monotonic() + 60
        while not scanned():
            assert time.monotonic() < deadline, "the scan on push did not finish"
            time.sleep(0.2)
        assert http.get(f"{base}/analysis").status_code == 200
        assert http.delete(f"/v2/team/scanned/manifests/{digest}").status_code == 202
        assert _gc(http, dry_run=True)["scanReportsPurged"] == 0
    with server.database() as database:
        assert ScanStore(database).report(digest) is not None
    gc = subprocess.run(
        [CARGOHOLD, "gc", "--registry", server.url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert gc.returncode == 0, gc.stderr
    assert "deleted 1 scan reports and 1 analyses of images no repository stores" in gc.stdout
    with server.database() as database:
        assert ScanStore(database).report(digest) is None


def test_cli_gc(server: CargoholdServer) -> None:
    with httpx.Client(base_url=server.url, auth=server.admin_auth) as http:
        push_blob(http, "team/app", b"orphan")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CARGOHOLD, "gc", *args, "--registry", server.url],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    dry = cli("--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would free 1 blobs (6 B)" in dry.stdout
    real = cli("--json")
    assert json.loads(real.stdout)["blobs"] == 1
    assert "freed 0 blobs" in cli().stdout
    unreachable = subprocess.run(
        [CARGOHOLD, "gc", "--registry", "http://127.0.0.1:1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert unreachable.returncode == 1 and "cannot reach" in unreachable.stderr


def test_untagged_manifests_go_but_what_tagged_images_need_stays(server: CargoholdServer) -> None:
    with httpx.Client(base_url=server.url, auth=server.admin_auth, timeout=60) as http:
        repo = "team/app"

        def by_digest(document: dict[str, Any]) -> str:
            body = encode(document)
            assert put_manifest(http, repo, digest_of(body), body, OCI_MANIFEST).status_code == 201
            return digest_of(body)

        config = b'{"architecture": "amd64"}'
        for blob in (config, b"child-1", b"child-2", b"loose", b"held", b"sig", b"orphan-sig"):
            push_blob(http, repo, blob)
        child_documents = [
            manifest_document(config, [b"child-1"]),
            manifest_document(config, [b"child-2"]),
        ]
        children = [by_digest(document) for document in child_documents]
        index = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {"mediaType": OCI_MANIFEST, "digest": d, "size": len(encode(document))}
                for d, document in zip(children, child_documents, strict=True)
            ],
        }
        assert put_manifest(http, repo, "multi", index).status_code == 201
        tagged, tagged_body = push_image(http, repo, "v1", config=config, layers=[b"kept"])
        signature = by_digest(
            manifest_document(
                config,
                [b"sig"],
                subject={"mediaType": OCI_MANIFEST, "digest": tagged, "size": len(tagged_body)},
            )
        )
        orphan = by_digest(
            manifest_document(
                config,
                [b"orphan-sig"],
                subject={"mediaType": OCI_MANIFEST, "digest": digest_of(b"nothing"), "size": 1},
            )
        )
        loose = by_digest(manifest_document(config, [b"loose"]))
        held = by_digest(manifest_document(config, [b"loose", b"held"]))
        hold = http.post(
            "/api/v1/holds",
            json={"scope": "image", "target": repo, "digest": held, "reason": "keep"},
        ).json()
        time.sleep(0.05)

        def run(*params: str) -> dict[str, Any]:
            query = {"untagged": "true", **{p: "true" for p in params}}
            response = http.post("/api/v1/gc", params=query)
            return json.loads(response.text.splitlines()[-1])["report"]

        assert run("dryRun")["untaggedManifests"] == 1
        assert http.get(f"/v2/{repo}/manifests/{loose}").status_code == 200
        report = run()
        assert report["untaggedManifests"] == 1
        assert report["blobs"] == 0  # b"loose" is still used by the held manifest
        assert http.get(f"/v2/{repo}/manifests/{loose}").status_code == 404
        for kept in (*children, signature, orphan, held, tagged):
            assert http.get(f"/v2/{repo}/manifests/{kept}").status_code == 200, kept
        http.delete(f"/api/v1/holds/{hold['id']}")
        second = run()
        assert second["untaggedManifests"] == 1
        assert second["blobs"] == 2  # b"loose" and b"held"
        # Audited under whoever ran the collection (here the signed-in admin).
        events = http.get("/api/v1/audit", params={"repository": repo}).json()["events"]
        assert any(
            (e["action"], e["digest"], e["actor"], e["detail"].get("reason"))
            == ("manifest.delete", loose, "admin", "garbage collection: untagged")
            for e in events
        )


def test_a_run_says_what_the_grace_period_keeps_and_until_when(
    registry: CargoholdServer, repo: str
) -> None:
    """Right after pushes a run frees nothing: it says how much waits, and for how long."""
    with httpx.Client(base_url=registry.url, auth=registry.admin_auth, timeout=60) as http:
        before = time.time()
        for _ in range(3):
            push_blob(http, repo, os.urandom(1000))
        report = _gc(http, dry_run=True)
        assert report["waitingBlobs"] >= 3
        assert report["waitingBytes"] >= 3000
        # The first to become collectable: pushed (by us or an earlier test) before ours.
        collectable = seconds(report["nextCollectableAt"])
        assert collectable <= time.time() + 3600
        assert collectable >= before + 3600 - 3 * 86400
    done = subprocess.run(
        [CARGOHOLD, "gc", "--dry-run", "--registry", registry.url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "pushed within the grace period (1 h); the first becomes collectable at" in done.stdout


def test_untagged_dry_run_counts_the_blobs_the_run_frees(server: CargoholdServer) -> None:
    """`gc --untagged --dry-run` and the run agree, and the run's progress total is right."""
    with httpx.Client(base_url=server.url, auth=server.admin_auth, timeout=60) as http:
        repo = "team/app"
        push_image(http, repo, "v1", layers=[b"base", b"old-app", b"old-data"])
        # v1 moves to a new image: the old one is untagged, its own layers only its own.
        push_image(http, repo, "v1", layers=[b"base", b"new-app"])
        push_blob(http, repo, b"loose blob")
        time.sleep(0.05)

        def run(*params: str) -> tuple[dict[str, Any], dict[str, Any]]:
            query = {"untagged": "true", **{p: "true" for p in params}}
            response = http.post("/api/v1/gc", params=query)
            events = [json.loads(line) for line in response.text.splitlines()]
            return events[0], events[-1]["report"]

        dry_start, dry = run("dryRun")
        # Freed: old-app and old-data (base and the config are shared with the new
        # image) and the loose blob.
        assert dry["untaggedManifests"] == 1
        assert dry["blobs"] == 3
        start, real = run()
        assert (real["blobs"], real["bytes"]) == (dry["blobs"], dry["bytes"])
        assert start["candidates"] == dry_start["candidates"] == real["blobs"]
        assert run()[1]["blobs"] == 0
