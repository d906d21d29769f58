"""Lifecycle apply racing pushes and holds: what was tagged or held before its delete stays.

Applying a policy evaluates, then deletes. A tag pushed onto an expiring image, or a hold
added on it, between the two must win: the delete re-checks inside its transaction.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable

import httpx

from tests.support.oci import encode, image_manifest, put_manifest, sha256
from tests.support.server import CargoholdServer

RACE_SECONDS = 4.0
# Images tagged keep-* are shielded by rule 1; every other image but the newest expires.
POLICY = {
    "rules": [
        {
            "rulePriority": 1,
            "selection": {
                "tagStatus": "tagged",
                "tagPrefixList": ["keep"],
                "countType": "imageCountMoreThan",
                "countNumber": 10000,
            },
            "action": {"type": "expire"},
        },
        {
            "rulePriority": 2,
            "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1},
            "action": {"type": "expire"},
        },
    ]
}


class Race:
    """Shared state of the racing threads; every list is appended under `lock`."""

    def __init__(self, registry: CargoholdServer, repo: str) -> None:
        self.url, self.repo = registry.url, repo
        self.admin_auth = registry.admin_auth
        self.deadline = time.monotonic() + RACE_SECONDS
        self.lock = threading.Lock()
        self.bodies: list[bytes] = []
        self.claimed: set[bytes] = set()
        self.tagged: list[tuple[str, str]] = []  # (tag, digest) pushed successfully
        self.held: list[str] = []  # digests held while they were still there
        self.hold_ids: list[int] = []
        self.skips: list[str] = []
        self.errors: list[str] = []

    def running(self) -> bool:
        return time.monotonic() < self.deadline and not self.errors

    def claim(self) -> bytes | None:
        """An image the policy expires (recent, not the newest) that no other thread took."""
        with self.lock:
            for body in reversed(self.bodies[-8:-1]):
                if body not in self.claimed:
                    self.claimed.add(body)
                    return body
        time.sleep(0.005)  # nothing new to take yet: let the pusher run
        return None

    def loop(self, step: Callable[[httpx.Client, int], None]) -> Callable[[], None]:
        def run() -> None:
            with httpx.Client(base_url=self.url, auth=self.admin_auth, timeout=30) as client:
                n = 0
                while self.running():
                    try:
                        step(client, n)
                    except Exception as exc:  # reported by the test, not lost in a thread
                        with self.lock:
                            self.errors.append(f"{type(exc).__name__}: {exc}")
                    n += 1

        return run


def test_tags_and_holds_added_while_apply_runs_are_never_overridden(
    registry: CargoholdServer, client: httpx.Client, repo: str
) -> None:
    template = image_manifest(client, repo, [b"shared layer"], b'{"architecture": "amd64"}')
    assert client.put(f"/api/v1/repositories/{repo}/lifecycle", json=POLICY).status_code == 200
    race = Race(registry, repo)

    def push(c: httpx.Client, n: int) -> None:
        document = copy.deepcopy(template)
        document["annotations"] = {"n": str(n)}
        body = encode(document)
        response = put_manifest(c, repo, f"old-{n}", body, document["mediaType"])
        assert response.status_code == 201, response.text
        with race.lock:
            race.bodies.append(body)

    def tag(c: httpx.Client, n: int) -> None:
        body = race.claim()
        if body is None:
            return
        response = put_manifest(c, repo, f"keep-{n}", body, template["mediaType"])
        assert response.status_code == 201, response.text
        with race.lock:
            race.tagged.append((f"keep-{n}", sha256(body)))

    def hold(c: httpx.Client, n: int) -> None:
        body = race.claim()
        if body is None:
            return
        digest = sha256(body)
        added = c.post(
            "/api/v1/holds",
            json={"scope": "image", "target": repo, "digest": digest, "reason": f"race {n}"},
        )
        assert added.status_code == 201, added.text
        present = c.head(f"/v2/{repo}/manifests/{digest}").status_code == 200
        with race.lock:
            race.hold_ids.append(added.json()["id"])
            if present:
                race.held.append(digest)

    def apply(c: httpx.Client, n: int) -> None:
        response = c.post(f"/api/v1/repositories/{repo}/lifecycle/apply")
        assert response.status_code == 200, response.text
        with race.lock:
            race.skips.extend(s["reason"] for s in response.json()["skipped"])

    threads = [threading.Thread(target=race.loop(step)) for step in (push, tag, hold, apply)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=RACE_SECONDS + 60)
    assert not any(thread.is_alive() for thread in threads)
    try:
        assert race.errors == []
        # Enough happened for the race to mean something (how many holds found their image
        # still there depends on the machine's load).
        assert len(race.tagged) > 5 and len(race.hold_ids) > 5
        lost_tags = [
            (tag, digest)
            for tag, digest in race.tagged
            if client.head(f"/v2/{repo}/manifests/{tag}").headers.get("Docker-Content-Digest")
            != digest
        ]
        assert lost_tags == []
        lost_held = [
            digest
            for digest in race.held
            if client.head(f"/v2/{repo}/manifests/{digest}").status_code != 200
        ]
        assert lost_held == []
        assert set(race.skips) <= {"tags changed", "already gone", "pushed again"} | {
            f"held by hold {i}" for i in race.hold_ids
        }
    finally:
        for hold_id in race.hold_ids:
            client.delete(f"/api/v1/holds/{hold_id}")
        client.delete(f"/api/v1/repositories/{repo}/lifecycle")
