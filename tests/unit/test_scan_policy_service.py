"""Scan policies are a service of their own: the scanning extension builds one and hands it to
the scan-on-push hook and, as the pull gate, to the registry; the admin routes use the same."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest

from cargohold.config import Settings
from cargohold.errors import Denied
from cargohold.extensions.scanning import ScanningExtension
from cargohold.meta.manifests import StoredManifest
from cargohold.oci import mediatypes as mt
from cargohold.oci.manifests import parse_manifest
from cargohold.server import prepare
from cargohold.services.scan_policy import ScanPolicyService
from cargohold.services.scanning import ScanService
from cargohold.wiring import build_services
from tests.support.callers import TESTER

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


def test_every_dependency_of_the_policy_service_is_required() -> None:
    parameters = inspect.signature(ScanPolicyService.__init__).parameters.values()
    assert [p.name for p in parameters if p.default is not inspect.Parameter.empty] == []
    with pytest.raises(TypeError):
        ScanPolicyService()  # type: ignore[call-arg]


def test_the_scanner_is_not_the_policy_service() -> None:
    assert not issubclass(ScanService, ScanPolicyService)
    assert not hasattr(ScanService, "check_pull") and not hasattr(ScanService, "pull_gate")


def test_the_pull_gate_and_the_on_push_hook_are_the_policy_service(tmp_path: Path) -> None:
    settings = Settings(data_dir=str(tmp_path), job_workers=0, scan_on_push=False)
    prepare(settings)
    services = build_services(settings)
    try:
        extension = services.extensions["scanning"]
        assert isinstance(extension, ScanningExtension)
        policies = extension.scan_policies
        assert isinstance(policies, ScanPolicyService)
        # The scanning extension's one gate (the signature gate sits beside it).
        assert policies.pull_gate() in services.registry.pull_gates

        manifest = parse_manifest(IMAGE, mt.OCI_MANIFEST)
        assert not policies.wants_scan_on_push("team/app", manifest)
        # A policy set through the service (as the admin API does) is what the gate enforces.
        policies.set_policy("team", {"scanOnPush": True, "preventUnscanned": True}, TESTER)
        assert policies.wants_scan_on_push("team/app", manifest)
        stored = StoredManifest(1, "sha256:" + "b" * 64, mt.OCI_MANIFEST, IMAGE, None)
        with pytest.raises(Denied, match="not been scanned"):
            policies.check_pull("team/app", stored)
        policies.check_pull("other/app", stored)  # no policy: nothing refused
        policies.remove_policy("team", TESTER)
        policies.check_pull("team/app", stored)
    finally:
        services.jobs.queue.stop()
