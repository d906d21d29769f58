"""Garbage collection started through node A while both nodes serve pushes and pulls: nothing
referenced is lost (every image of the registry pulls whole afterwards, through both nodes),
and the garbage is gone from the bucket.

The stack keeps the default grace period (an hour): the blobs this test makes garbage are
aged by moving their upload and link times an hour and more into the past in PostgreSQL, as
if they had been pushed then. Blobs pushed while the collection runs are younger than the
grace period, as every push in flight is in production; images whose old layers are pushed
again during the collection race it for those layers (their pushes may have to be retried,
their layers must never go missing once a manifest names them).
"""

from __future__ import annotations

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import httpx
import sqlalchemy as sa

from cargohold.meta.db import make_engine
from tests.multinode.images import (
    Image,
    RegistryFailure,
    pull,
    pull_everything,
    push,
    random_image,
    with_retries,
)
from tests.multinode.stack import PROJECT, ProductionStack
from tests.support.oci import push_blob, sha256
from tests.support.seaweedfs import object_bytes
from tests.support.tokenflow import TokenFlow

REPOSITORY = f"{PROJECT}/gc"
AGE_SECONDS = 2 * 3600
LOOSE_BLOBS = 60


def _age(database_url: str, digests: list[str]) -> None:
    """Move these blobs' upload and link times AGE_SECONDS back."""
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            for table, column in (("blobs", "created_at"), ("repository_blobs", "linked_at")):
                conn.execute(
                    sa.text(
                        f"UPDATE {table} SET {column} = {column} - :age"
                        " WHERE digest = ANY(:digests)"
                    ),
                    {"age": AGE_SECONDS, "digests": digests},
                )
    finally:
        engine.dispose()


def _gc(stack: ProductionStack) -> dict[str, Any]:
    with stack.admin_client(stack.nodes[0].url) as admin:
        response = admin.post("/api/v1/gc", timeout=300)
    assert response.status_code == 200, response.text
    events = [json.loads(line) for line in response.text.splitlines()]
    assert events[-1]["event"] == "done", events[-1]
    return dict(events[-1]["report"])


def test_gc_through_one_node_while_both_serve_loses_nothing_referenced(
    stack: ProductionStack,
) -> None:
    flow = TokenFlow(stack.developer)
    kept = {f"kept-{i}": random_image(f"kept-{i}") for i in range(4)}
    doomed = {f"doomed-{i}": random_image(f"doomed-{i}") for i in range(6)}
    revived = {tag: doomed[tag] for tag in ("doomed-0", "doomed-1")}
    fresh = {f"fresh-{i}": random_image(f"fresh-{i}") for i in range(6)}
    loose = [os.urandom(4096) for _ in range(LOOSE_BLOBS)]

    with httpx.Client(base_url=stack.url, auth=flow, timeout=60) as http:
        for tag, image in {**kept, **doomed}.items():
            push(http, REPOSITORY, tag, image)
        for blob in loose:
            push_blob(http, REPOSITORY, blob)
        for image in doomed.values():
            deleted = http.delete(f"/v2/{REPOSITORY}/manifests/{image.digest}")
            assert deleted.status_code == 202, deleted.text
    old = [sha256(b) for image in (*kept.values(), *doomed.values()) for b in image.blobs]
    _age(stack.database_url, [*old, *(sha256(b) for b in loose)])
    garbage = {sha256(b) for image in doomed.values() for b in image.blobs}
    garbage |= {sha256(b) for b in loose}
    pushed_again = {sha256(b) for image in revived.values() for b in image.blobs}

    collecting = threading.Event()
    failures: list[str] = []

    def push_all(base_url: str, images: dict[str, Image]) -> None:
        with httpx.Client(base_url=base_url, auth=TokenFlow(stack.developer), timeout=60) as c:
            collecting.wait(60)
            for tag, image in images.items():
                with_retries(partial(push, c, REPOSITORY, tag, image))

    def pull_kept(base_url: str) -> int:
        pulls = 0
        with httpx.Client(base_url=base_url, auth=TokenFlow(stack.developer), timeout=60) as c:
            collecting.wait(60)
            while collecting.is_set() or pulls < len(kept):
                for tag, image in kept.items():
                    try:
                        if pull(c, REPOSITORY, tag) != image:
                            failures.append(f"{base_url} {tag}: other bytes")
                    except (RegistryFailure, httpx.HTTPError) as exc:
                        failures.append(f"{base_url} {tag}: {exc}")
                    pulls += 1
        return pulls

    node_a, node_b = stack.nodes
    with ThreadPoolExecutor(4) as pool:
        pushes = [
            pool.submit(push_all, node_b.url, fresh),
            pool.submit(push_all, stack.url, revived),
        ]
        pulls = [pool.submit(pull_kept, node.url) for node in stack.nodes]
        collecting.set()
        try:
            report = _gc(stack)
        finally:
            collecting.clear()
        for future in pushes:
            future.result(timeout=300)
        for future in pulls:
            assert future.result(timeout=300) >= len(kept)
    assert failures == []

    # The garbage went: what nobody pushed again is gone from the bucket and the registry;
    # a revived layer the collection swept before its push came back was pushed again.
    freed = garbage - pushed_again
    assert len(freed) <= report["blobs"] <= len(garbage), report
    bucket = stack.seaweedfs.store(stack.prefix)
    assert [d for d in sorted(freed) if object_bytes(bucket, d) is not None] == []
    assert all(object_bytes(bucket, d) is not None for d in pushed_again)
    with httpx.Client(base_url=node_a.url, auth=flow, timeout=60) as http:
        assert http.head(f"/v2/{REPOSITORY}/blobs/{sha256(loose[0])}").status_code == 404
        for tag in doomed.keys() - revived.keys():
            assert http.get(f"/v2/{REPOSITORY}/manifests/{tag}").status_code == 404

    # Nothing referenced went: every image of the registry pulls whole through both nodes.
    expected = {**kept, **revived, **fresh}
    for node in stack.nodes:
        with stack.admin_client(node.url) as http:
            catalog = http.get("/v2/_catalog").json()["repositories"]
            assert REPOSITORY in catalog
            for repository in catalog:
                tags = http.get(f"/v2/{repository}/tags/list").json()["tags"] or []
                for tag in tags:
                    assert pull_everything(http, repository, tag) >= 1, (repository, tag)
            tags = http.get(f"/v2/{REPOSITORY}/tags/list").json()["tags"]
            assert sorted(tags) == sorted(expected)
            for tag, image in expected.items():
                assert pull(http, REPOSITORY, tag) == image
