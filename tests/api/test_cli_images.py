"""The CLI against a real server: `rm` (untag, delete, confirmation, refusals), `tags` in
version order with zoned times, `hold add --image REPO:TAG`, `hold list` as a table, and the
allowlist refusing an expiry in the past. Errors are one line on stderr with exit status 1."""

from __future__ import annotations

import os
import subprocess

import httpx

from tests.support.oci import error_code, push_image, put_manifest
from tests.support.server import CARGOHOLD, CargoholdServer


def _cli(
    registry: CargoholdServer, *args: str, answer: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CARGOHOLD, *args, "--registry", registry.url],
        input=answer,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )


def _one_line_error(done: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    for needle in needles:
        assert needle in done.stderr, done.stderr


def _audit(client: httpx.Client, repo: str) -> set[tuple[str, str]]:
    events = client.get("/api/v1/audit", params={"repository": repo, "n": 200}).json()["events"]
    return {(e["action"], e["target"]) for e in events if e["target"].startswith(repo)}


def test_rm_untags_and_deletes_with_confirmation(
    registry: CargoholdServer, client: httpx.Client, repo: str
) -> None:
    digest, body = push_image(client, repo, "v1", layers=[b"rm me"])
    assert put_manifest(client, repo, "v1-alias", body).status_code == 201

    # No one to answer (stdin empty), or "n": nothing is deleted, and the status says so.
    for answer in ("", "n\n"):
        refused = _cli(registry, "rm", f"{repo}:v1", answer=answer)
        assert refused.returncode == 1 and "nothing deleted" in refused.stderr
    assert client.head(f"/v2/{repo}/manifests/v1").status_code == 200

    untagged = _cli(registry, "rm", f"{repo}:v1", answer="y\n")
    assert untagged.returncode == 0, untagged.stderr
    assert f"Untag {repo}:v1 ({digest})?" in untagged.stderr
    assert f"untagged {repo}:v1 (was {digest})" in untagged.stdout
    assert client.head(f"/v2/{repo}/manifests/v1").status_code == 404
    assert client.head(f"/v2/{repo}/manifests/{digest}").status_code == 200

    deleted = _cli(registry, "rm", f"{repo}@{digest}", "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert f"deleted {repo}@{digest} (tags: v1-alias)" in deleted.stdout
    assert client.head(f"/v2/{repo}/manifests/{digest}").status_code == 404
    assert client.head(f"/v2/{repo}/manifests/v1-alias").status_code == 404
    assert {("tag.delete", f"{repo}:v1"), ("manifest.delete", f"{repo}@{digest}")} <= _audit(
        client, repo
    )

    _one_line_error(_cli(registry, "rm", f"{repo}:v1", "--yes"), f"{repo}:v1", "no such image")
    _one_line_error(_cli(registry, "rm", f"{repo}@{digest}", "-y"), "no such image")
    _one_line_error(_cli(registry, "rm", repo, "-y"), "REPOSITORY:TAG or REPOSITORY@DIGEST")
    _one_line_error(_cli(registry, "rm", f"{repo}@sha256:abc", "-y"), "not a digest")


def test_rm_refused_by_a_hold_or_an_immutable_tag(
    registry: CargoholdServer, client: httpx.Client, repo: str
) -> None:
    digest, _ = push_image(client, repo, "1.0.0", layers=[b"kept"])
    rule = client.post(
        "/api/v1/tag-rules",
        json={"kind": "immutable", "scope": "repository", "target": repo, "pattern": "1.*"},
    ).json()
    try:
        _one_line_error(_cli(registry, "rm", f"{repo}:1.0.0", "-y"), "DENIED", "immutable")
    finally:
        client.delete(f"/api/v1/tag-rules/{rule['id']}")
    hold = client.post(
        "/api/v1/holds",
        json={"scope": "image", "target": repo, "digest": digest, "reason": "INC-7"},
    ).json()
    try:
        _one_line_error(_cli(registry, "rm", f"{repo}@{digest}", "-y"), "DENIED", "INC-7")
    finally:
        client.delete(f"/api/v1/holds/{hold['id']}")
    assert client.head(f"/v2/{repo}/manifests/1.0.0").status_code == 200


def test_tags_sort_as_versions_and_times_say_their_zone(
    registry: CargoholdServer, client: httpx.Client, repo: str
) -> None:
    _, body = push_image(client, repo, "v1.10")
    for tag in ("v1.2", "latest", "v1.9", "v1.2.1"):
        assert put_manifest(client, repo, tag, body).status_code == 201
    listed = _cli(registry, "tags", repo)
    assert listed.returncode == 0, listed.stderr
    rows = [line.split("│")[1].strip() for line in listed.stdout.splitlines() if "sha256:" in line]
    assert rows == ["latest", "v1.2", "v1.2.1", "v1.9", "v1.10"]
    assert all(" UTC │" in line for line in listed.stdout.splitlines() if "sha256:" in line)


def test_hold_add_resolves_a_tag_and_hold_list_is_a_table(
    registry: CargoholdServer, client: httpx.Client, repo: str
) -> None:
    digest, _ = push_image(client, repo, "v3")
    added = _cli(registry, "hold", "add", "--image", f"{repo}:v3", "--reason", "INC-9")
    assert added.returncode == 0, added.stderr
    assert f"{repo}:v3 resolved to {digest}" in added.stderr
    hold_id = int(added.stdout.split("\t")[0])
    try:
        held = client.delete(f"/v2/{repo}/manifests/{digest}")
        assert (held.status_code, error_code(held)) == (403, "DENIED")
        listed = _cli(registry, "hold", "list")
        assert listed.returncode == 0, listed.stderr
        assert "\t" not in listed.stdout
        header = next(line for line in listed.stdout.splitlines() if "reason" in line)
        assert [cell.strip() for cell in header.strip("┃ \n").split("┃")] == [
            "id",
            "scope",
            "target",
            "digest",
            "reason",
            "until",
        ]
        assert any(
            f"│ {hold_id} " in line and "INC-9" in line for line in listed.stdout.splitlines()
        )
    finally:
        client.delete(f"/api/v1/holds/{hold_id}")
    _one_line_error(
        _cli(registry, "hold", "add", "--image", f"{repo}:nope", "--reason", "x"), "no such image"
    )


def test_allowlist_refuses_an_expiry_in_the_past(registry: CargoholdServer) -> None:
    done = _cli(registry, "allowlist", "add", "CVE-2020-0001", "--expires", "2020-01-01")
    _one_line_error(done, "ALLOWLIST_INVALID", "2020-01-01 00:00:00 UTC is in the past")
