"""Storage-life benchmark: lifecycle preview over many images, GC mark and sweep.

Runs in-process against a scratch SQLite store and filesystem blob store (no HTTP), so
it measures the database questions themselves:

- lifecycle preview of an ECR policy over a repository of IMAGES images;
- garbage collection over BLOBS blobs and MANIFESTS manifests of which a quarter of the
  blobs are unreferenced: the time to mark (the garbage query) and to sweep (re-check,
  delete rows, delete files, in batches).

Usage: .venv/bin/python bench/storage_life.py [--images 100000] [--blobs 100000]
       [--manifests 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from cargohold.meta.db import make_engine, migrate
from cargohold.meta.store import MetadataStore
from cargohold.oci.digests import compute
from cargohold.oci.manifests import parse_manifest
from cargohold.policy.access import AllowAll
from cargohold.services.caller import system_caller
from cargohold.services.gc import GarbageCollector
from cargohold.services.holds import HoldService
from cargohold.services.lifecycle import LifecycleService
from cargohold.services.running_images import RunningImages
from cargohold.services.staging import UploadStaging
from cargohold.services.uploads import UploadService
from cargohold.storage.filesystem import FilesystemBlobStore

# Who the benchmark's own writes are audited under.
BENCH = system_caller("bench").as_actor()

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
POLICY = json.dumps(
    {
        "rules": [
            {
                "rulePriority": 1,
                "selection": {
                    "tagStatus": "tagged",
                    "tagPrefixList": ["v"],
                    "countType": "imageCountMoreThan",
                    "countNumber": 100,
                },
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 2,
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": 7,
                },
                "action": {"type": "expire"},
            },
        ]
    }
)


def _manifest(config: str, layers: list[tuple[str, int]]) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config,
                "size": 2,
            },
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": s}
                for d, s in layers
            ],
        }
    ).encode()


def _digest(label: str) -> str:
    return compute(label.encode())


def _link_stored(meta: MetadataStore, repository: str, digest: str, size: int) -> None:
    """A blob row as a finished push leaves it: linked and marked stored."""
    meta.blobs.link(repository, digest, size)
    meta.blobs.mark_stored(digest)


def lifecycle(root: Path, images: int) -> dict[str, float]:
    meta = MetadataStore(engine := make_engine(f"sqlite:///{root / 'lifecycle.db'}"))
    migrate(engine)
    config = _digest("config")
    _link_stored(meta, "big/repo", config, 2)
    started = time.perf_counter()
    for i in range(images):
        layer = _digest(f"layer-{i}")
        _link_stored(meta, "big/repo", layer, 1000)
        body = _manifest(config, [(layer, 1000)])
        tag = f"v{i}" if i % 2 == 0 else None
        meta.manifests.put(
            "big/repo", compute(body), body, parse_manifest(body, OCI_MANIFEST), tag, False, BENCH
        )
    populate = time.perf_counter() - started
    service = LifecycleService(
        meta.lifecycle_policies,
        meta.repositories,
        meta.listings,
        meta.deletions,
        HoldService(meta.holds),
        running=RunningImages.of_days(meta.admissions, 30),
        unstored=meta.unstored_images,
    )
    started = time.perf_counter()
    preview = service.preview("big/repo", POLICY, now=time.time() + 30 * 86400)
    elapsed = time.perf_counter() - started
    return {
        "images": images,
        "populate_s": round(populate, 1),
        "preview_s": round(elapsed, 2),
        "expiring": len(preview.expiring),
    }


def populate_gc(
    meta: MetadataStore, store: FilesystemBlobStore, blobs: int, manifests: int
) -> None:
    """BLOBS blobs in one repository, a quarter unreferenced, the rest spread over MANIFESTS
    untagged manifests; only the garbage gets bytes on disk (only it is ever deleted)."""
    referenced = blobs - blobs // 4
    per_manifest = -(-referenced // manifests)  # ceiling: every referenced blob is used
    config = _digest("config")
    _link_stored(meta, "gc/repo", config, 2)
    digests = [_digest(f"blob-{i}") for i in range(blobs)]
    for i, digest in enumerate(digests):
        _link_stored(meta, "gc/repo", digest, 100)
        if i >= referenced:
            store.put(digest, f"blob-{i}".encode())
    for m in range(manifests):
        chunk = digests[:referenced][m * per_manifest : (m + 1) * per_manifest]
        layers = [(d, 100) for d in chunk]
        body = _manifest(config, layers)
        meta.manifests.put(
            "gc/repo", compute(body), body, parse_manifest(body, OCI_MANIFEST), None, False, BENCH
        )


def gc(root: Path, blobs: int, manifests: int) -> dict[str, float]:
    meta = MetadataStore(engine := make_engine(f"sqlite:///{root / 'gc.db'}"))
    migrate(engine)
    store = FilesystemBlobStore(root / "blobs")
    uploads = UploadService(meta, store, UploadStaging(meta, store, 86400), AllowAll())
    collector = GarbageCollector(
        meta.blobs,
        meta.repositories,
        meta.listings,
        meta.deletions,
        store,
        uploads,
        0,
        HoldService(meta.holds),
        running=RunningImages.of_days(meta.admissions, 30),
        unstored=meta.unstored_images,
    )
    started = time.perf_counter()
    populate_gc(meta, store, blobs, manifests)
    populate = time.perf_counter() - started
    started = time.perf_counter()
    candidates, _ = collector.count()
    mark = time.perf_counter() - started
    started = time.perf_counter()
    report = collector.run(caller=system_caller("bench"))
    sweep = time.perf_counter() - started
    return {
        "blobs": blobs,
        "manifests": manifests,
        "populate_s": round(populate, 1),
        "garbage": candidates,
        "mark_s": round(mark, 2),
        "sweep_s": round(sweep, 2),
        "swept": report.blobs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--blobs", type=int, default=100_000)
    parser.add_argument("--manifests", type=int, default=20_000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="cargohold-storage-bench-"))
    try:
        print(json.dumps({"lifecycle": lifecycle(root, args.images)}), flush=True)
        print(json.dumps({"gc": gc(root, args.blobs, args.manifests)}), flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    os.sync()


if __name__ == "__main__":
    main()
