"""What one node changes, the other node answers at once (or within the bound docs/operations.md
gives): tags moved, added and deleted (tags list pages, manifest GET by tag, catalog), a project
made public or private, a user disabled, a scan policy's pull gate.

Each node runs two server processes, each with its own caches: every check asks the other node
several times over fresh connections, so both of its processes answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from cargohold.policy.permissions import Role
from tests.multinode.images import pull, push, random_image
from tests.multinode.stack import PROJECT, ProductionStack
from tests.support.tokenflow import TokenFlow

# Asks per check: each over a new connection, so both server processes of the node answer.
ASKS = 6
# The pull gates' documented refresh bound is 2 s; a check of it waits this long at most.
GATE_WAIT_SECONDS = 20


def _every_time(
    base_url: str, auth: httpx.Auth | None, ask: Callable[[httpx.Client], None]
) -> None:
    for _ in range(ASKS):
        with httpx.Client(base_url=base_url, auth=auth, timeout=60) as client:
            ask(client)


def test_tags_moved_added_and_deleted_through_node_a_are_seen_by_node_b_at_once(
    stack: ProductionStack,
) -> None:
    repository = f"{PROJECT}/coherent"
    first, second = random_image("first"), random_image("second")
    flow = TokenFlow(stack.developer)
    node_a, node_b = (httpx.Client(base_url=n.url, auth=flow, timeout=60) for n in stack.nodes)
    with node_a, node_b:
        push(node_a, repository, "latest", first)
        push(node_a, repository, "v1", first)

        def sees(tags: list[str], latest: str | None) -> Callable[[httpx.Client], None]:
            def ask(client: httpx.Client) -> None:
                listed = client.get(f"/v2/{repository}/tags/list")
                assert listed.status_code == 200 and listed.json()["tags"] == tags
                page = client.get(f"/v2/{repository}/tags/list", params={"n": 1})
                assert page.json()["tags"] == tags[:1]
                got = client.head(f"/v2/{repository}/manifests/latest")
                if latest is None:
                    assert got.status_code == 404
                else:
                    assert got.headers["docker-content-digest"] == latest

            return ask

        # Node B's processes cache the pages now.
        _every_time(stack.nodes[1].url, flow, sees(["latest", "v1"], first.digest))
        push(node_a, repository, "latest", second)  # moved
        push(node_a, repository, "a-new", second)  # added, first in the list
        _every_time(stack.nodes[1].url, flow, sees(["a-new", "latest", "v1"], second.digest))
        assert node_a.delete(f"/v2/{repository}/manifests/latest").status_code == 202
        _every_time(stack.nodes[1].url, flow, sees(["a-new", "v1"], None))
        assert pull(node_b, repository, "v1") == first

    # A repository pushed through node A is in node B's catalog at once.
    with httpx.Client(base_url=stack.nodes[0].url, auth=flow, timeout=60) as node_a:
        push(node_a, f"{PROJECT}/catalogued", "1", random_image("catalogued"))

    def catalogued(client: httpx.Client) -> None:
        assert f"{PROJECT}/catalogued" in client.get("/v2/_catalog").json()["repositories"]

    _every_time(stack.nodes[1].url, TokenFlow(stack.admin), catalogued)


def test_a_project_made_public_or_private_through_node_a_is_so_on_node_b_at_once(
    stack: ProductionStack,
) -> None:
    project = "opened"
    stack.accounts.project(project)
    image = random_image(project)
    with stack.admin_client(stack.nodes[0].url) as admin:
        push(admin, f"{project}/app", "1", image)

        def anonymous_pull(allowed: bool) -> Callable[[httpx.Client], None]:
            def ask(client: httpx.Client) -> None:
                token = client.get(
                    "/auth/token",
                    params={"service": "cargohold", "scope": f"repository:{project}/app:pull"},
                ).json()["token"]
                got = client.get(
                    f"/v2/{project}/app/manifests/1",
                    headers={"Authorization": f"Bearer {token}"},
                )
                assert got.status_code == (200 if allowed else 401), got.text

            return ask

        _every_time(stack.nodes[1].url, None, anonymous_pull(False))
        assert admin.patch(f"/api/v1/projects/{project}", json={"public": True}).is_success
        _every_time(stack.nodes[1].url, None, anonymous_pull(True))
        assert admin.patch(f"/api/v1/projects/{project}", json={"public": False}).is_success
        _every_time(stack.nodes[1].url, None, anonymous_pull(False))


def test_a_user_disabled_through_node_a_cannot_sign_in_on_node_b(stack: ProductionStack) -> None:
    login = stack.accounts.user("leaving", "a password of the leaving user")
    stack.accounts.member(PROJECT, login.name, Role.DEVELOPER)
    scope = {"service": "cargohold", "scope": f"repository:{PROJECT}/coherent:pull"}

    def signs_in(allowed: bool) -> Callable[[httpx.Client], None]:
        # Refused: 401, or 429 once the failures lock the account.
        answers = {200} if allowed else {401, 429}

        def ask(client: httpx.Client) -> None:
            assert client.get("/auth/token", params=scope).status_code in answers
            assert client.get("/api/v1/users/me").status_code in answers

        return ask

    _every_time(stack.nodes[1].url, login.auth, signs_in(True))
    with stack.admin_client(stack.nodes[0].url) as admin:
        assert admin.patch(f"/api/v1/users/{login.name}", json={"disabled": True}).is_success
    _every_time(stack.nodes[1].url, login.auth, signs_in(False))


def test_a_scan_policy_set_through_node_a_gates_pulls_on_node_b_within_its_bound(
    stack: ProductionStack,
) -> None:
    project = "gated"
    stack.accounts.project(project)
    with stack.admin_client(stack.nodes[0].url) as admin:
        # Its scan fails (the layers are no tar archives): it counts as not scanned.
        image = random_image(project)
        push(admin, f"{project}/app", "1", image)
        policy = f"/api/v1/projects/{project}/scan-policy"
        refused = admin.put(policy, json={"preventUnscanned": True})
        assert refused.status_code == 200, refused.text

    def pull_status(client: httpx.Client) -> int:
        return client.get(
            f"/v2/{project}/app/manifests/1",
            headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        ).status_code

    _settles_to(stack, pull_status, 403)
    with stack.admin_client(stack.nodes[0].url) as admin:
        assert admin.delete(policy).status_code in (200, 204)
    _settles_to(stack, pull_status, 200)


def _settles_to(
    stack: ProductionStack, status: Callable[[httpx.Client], int], expected: int
) -> None:
    """Wait (bounded) until every process of node B answers `expected`."""
    deadline = time.monotonic() + GATE_WAIT_SECONDS
    answers: list[int] = []
    flow = TokenFlow(stack.admin)
    while time.monotonic() < deadline:
        answers.clear()
        _every_time(stack.nodes[1].url, flow, lambda c: answers.append(status(c)))
        if set(answers) == {expected}:
            return
        time.sleep(0.2)
    raise AssertionError(f"node B still answers {answers}, not {expected}")
