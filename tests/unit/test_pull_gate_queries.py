"""The scan policy's pull gate on a real SQLite database: the manifest GET's fast read asks it
only from memory whether it applies, and never runs its queries (decision 017)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from cargohold.config import Settings
from cargohold.errors import Denied
from cargohold.extensions.scanning import ScanningExtension
from cargohold.meta.manifests import StoredManifest
from cargohold.oci import mediatypes as mt
from cargohold.oci.digests import EMPTY_JSON_DIGEST
from cargohold.server import prepare
from cargohold.services import scan_policy
from cargohold.services.caller import anonymous_caller
from cargohold.services.registry import GatedPull
from cargohold.services.scan_policy import ScanPolicyService
from cargohold.wiring import Services, build_services

TESTER = anonymous_caller("192.0.2.1", "tests")
ARTIFACT = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "artifactType": "application/vnd.example.thing",
        "config": {"mediaType": mt.OCI_EMPTY, "digest": EMPTY_JSON_DIGEST, "size": 2},
        "layers": [],
    }
).encode()
IMAGE = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": "sha256:" + "a" * 64,
            "size": 2,
        },
        "layers": [],
    }
).encode()


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    settings = Settings(data_dir=str(tmp_path), job_workers=0, scan_on_push=False)
    prepare(settings)
    built = build_services(settings)
    try:
        yield built
    finally:
        built.jobs.queue.stop()


def _policies(services: Services) -> ScanPolicyService:
    extension = services.extensions["scanning"]
    assert isinstance(extension, ScanningExtension)
    return extension.scan_policies


def _statements(services: Services, work: Callable[[], Any]) -> tuple[Any, list[str]]:
    """What `work` returns (or raises), and every SQL statement SQLite ran for it. It runs in
    a thread of its own, so the store opens a connection for it that the trace sees."""
    statements: list[str] = []

    def trace(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        dbapi_connection.set_trace_callback(statements.append)

    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(work())
        except Exception as error:
            outcome.append(error)

    sa.event.listen(services.engine, "checkout", trace)
    try:
        thread = threading.Thread(target=run)
        thread.start()
        thread.join(timeout=30)
    finally:
        sa.event.remove(services.engine, "checkout", trace)
    assert outcome, "the work did not finish"
    return outcome[0], statements


def test_a_pull_no_gate_applies_to_makes_no_gate_query(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = services.registry
    pushed = registry.put_manifest("open/app", "v1", ARTIFACT, mt.OCI_MANIFEST, TESTER)
    # Every gate loaded (the scan policies' and the signature gate's): none applies to `open`.
    registry.refresh_pull_gates()
    # Every cache is stale from here on: the fast read must still not reload it.
    monkeypatch.setattr(scan_policy, "PULL_GATE_REFRESH_SECONDS", 0.0)

    stored, statements = _statements(
        services, lambda: registry.get_manifest("open/app", "v1", puller=TESTER)
    )
    assert isinstance(stored, StoredManifest) and stored.digest == pushed.digest
    assert len(statements) == 1 and "manifests" in statements[0]  # the lookup, and only it


def test_a_gated_pull_leaves_the_fast_read_before_any_gate_query(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry, policies = services.registry, _policies(services)
    registry.put_manifest("team/app", "v1", ARTIFACT, mt.OCI_MANIFEST, TESTER)
    policies.set_policy("team", {"preventUnscanned": True}, TESTER)
    monkeypatch.setattr(scan_policy, "PULL_GATE_REFRESH_SECONDS", 0.0)

    gated, statements = _statements(
        services, lambda: registry.get_manifest("team/app", "v1", puller=TESTER)
    )
    assert isinstance(gated, GatedPull)
    assert len(statements) == 1 and "scan_" not in statements[0]
    # The check, off the loop, is where the gate queries (its stale cache, then the facts).
    passed, statements = _statements(
        services, lambda: registry.pass_gates("team/app", "v1", gated.stored, TESTER)
    )
    assert passed == gated.stored  # an artifact is not an image to judge
    assert any("scan_policies" in s for s in statements)


def test_the_gate_answers_from_memory_and_a_change_here_applies_at_once(
    services: Services,
) -> None:
    policies = _policies(services)
    # Nothing loaded yet: every pull goes to the check, which loads (fail closed).
    applies, statements = _statements(services, lambda: policies.pull_gated("team/app"))
    assert (applies, statements) == (True, [])

    policies.set_policy("team", {"preventSeverity": "HIGH"}, TESTER)
    answers, statements = _statements(
        services,
        lambda: [policies.pull_gated(r) for r in ("team/app", "team/a/b", "other/app", "teamx")],
    )
    assert (answers, statements) == ([True, True, False, False], [])
    # A policy that refuses nothing (scan on push only) does not gate pulls.
    policies.set_policy("team", {"scanOnPush": True}, TESTER)
    assert not policies.pull_gated("team/app")
    policies.set_policy("team", {"preventUnscanned": True}, TESTER)
    assert policies.pull_gated("team/app")
    stored = StoredManifest(1, "sha256:" + "b" * 64, mt.OCI_MANIFEST, IMAGE, None)
    with pytest.raises(Denied, match="not been scanned"):
        services.registry.pass_gates("team/app", "v1", stored, TESTER)
    policies.remove_policy("team", TESTER)
    assert not policies.pull_gated("team/app")
    services.registry.pass_gates("team/app", "v1", stored, TESTER)
