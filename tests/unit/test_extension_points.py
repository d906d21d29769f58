"""The registry calls the extension points it is given, in order, and only those."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cargohold.config import Settings
from cargohold.errors import Denied
from cargohold.meta.manifests import StoredManifest
from cargohold.oci import mediatypes as mt
from cargohold.oci.digests import EMPTY_JSON_DIGEST
from cargohold.oci.manifests import Manifest
from cargohold.server import prepare
from cargohold.services.caller import anonymous_caller
from cargohold.services.extension_points import PullGate
from cargohold.services.registry import GatedPull, RegistryService
from cargohold.wiring import build_services

CALLER = anonymous_caller("192.0.2.1", "tests")
ARTIFACT = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "artifactType": "application/vnd.example.thing",
        "config": {"mediaType": mt.OCI_EMPTY, "digest": EMPTY_JSON_DIGEST, "size": 2},
        "layers": [],
    }
).encode()


def test_hooks_and_gates_run_in_order_and_a_failing_hook_fails_nothing(tmp_path: Path) -> None:
    settings = Settings(data_dir=str(tmp_path), scanning=False, signatures=False, job_workers=0)
    prepare(settings)
    services = build_services(settings)
    assert services.registry.on_push == () and services.registry.pull_gates == ()
    calls: list[str] = []

    def broken(repository: str, digest: str, manifest: Manifest, tag: str | None) -> None:
        calls.append("broken")
        raise RuntimeError("a queue that cannot take the job")

    def recording(repository: str, digest: str, manifest: Manifest, tag: str | None) -> None:
        calls.append(f"pushed {repository}@{digest}")

    def allow(repository: str, stored: StoredManifest) -> None:
        calls.append("allow")

    def deny(repository: str, stored: StoredManifest) -> None:
        calls.append("deny")
        raise Denied("not this one")

    def applies(repository: str) -> bool:
        calls.append(f"applies {repository}")
        return repository != "team/open"

    old = services.registry
    registry = RegistryService(
        old.meta,
        old.blobs,
        old.access,
        old.pulls,
        old.tag_rules,
        old.holds,
        old.trail,
        on_push=[broken, recording],
        pull_gates=[
            PullGate(applies=applies, check=allow, refresh=lambda: None),
            PullGate(applies=applies, check=deny, refresh=lambda: None),
        ],
    )
    pushed = registry.put_manifest("team/app", "v1", ARTIFACT, mt.OCI_MANIFEST, CALLER)
    assert calls == ["broken", f"pushed team/app@{pushed.digest}"]
    calls.clear()
    assert registry.get_manifest("team/app", "v1", puller=None).digest == pushed.digest
    assert calls == []  # reading for the registry's own use is not a pull
    # The fast read only asks the gates whether they apply, and hands a gated pull over.
    with pytest.raises(GatedPull) as gated:
        registry.get_manifest("team/app", "v1", puller=CALLER)
    assert calls == ["applies team/app"]
    calls.clear()
    with pytest.raises(Denied):
        registry.pass_gates("team/app", "v1", gated.value.stored, CALLER)
    assert calls == ["applies team/app", "allow", "applies team/app", "deny"]
    calls.clear()
    # No gate applies: the pull is answered by the fast read, and no check runs.
    registry.put_manifest("team/open", "v1", ARTIFACT, mt.OCI_MANIFEST, CALLER)
    calls.clear()
    assert registry.get_manifest("team/open", "v1", puller=CALLER).digest == pushed.digest
    assert calls == ["applies team/open", "applies team/open"]
    services.jobs.queue.stop()
