"""The Kubernetes manifests under deploy/kubernetes/: valid for the Kubernetes versions named
here (kubernetes-validate's bundled schemas, offline, strict: an unknown or misplaced field is
an error), and saying what the registry needs of its pods.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.deploy.files import KUBERNETES, load, unknown_settings

# The oldest version the manifests are for, and the newest kubernetes-validate knows.
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")
UID = 10001


def _documents() -> list[tuple[Path, dict[str, Any]]]:
    found = []
    for path in sorted(KUBERNETES.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                found.append((path, document))
    return found


def _one(kind: str, name: str) -> dict[str, Any]:
    (document,) = (
        d for _, d in _documents() if d["kind"] == kind and d["metadata"]["name"] == name
    )
    return document


def test_the_manifests_hold_what_a_deployment_needs() -> None:
    kinds = sorted((d["kind"], d["metadata"]["name"]) for _, d in _documents())
    assert kinds == [
        ("ConfigMap", "cargohold"),
        ("Deployment", "cargohold"),
        ("Deployment", "cargohold-worker"),
        ("PodDisruptionBudget", "cargohold"),
        ("Secret", "cargohold"),
        ("Service", "cargohold"),
    ]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_is_valid_for_kubernetes(version: str) -> None:
    for path, document in _documents():
        try:
            kubernetes_validate.validate(document, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{path.name}: {document['kind']}: {exc.message} at {list(exc.path)}")


def test_a_manifest_with_a_misplaced_field_is_refused() -> None:
    """The check itself: strict validation catches what `kubectl apply` would reject."""
    deployment = _one("Deployment", "cargohold")
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[0], strict=True)


def _environment() -> dict[str, str]:
    config = _one("ConfigMap", "cargohold")["data"]
    secret = _one("Secret", "cargohold")["stringData"]
    return {**config, **secret}


def test_every_cargohold_setting_in_the_manifests_is_one_cargohold_reads() -> None:
    environment = _environment()
    assert unknown_settings(environment) == []
    settings = load(environment)
    assert settings.database_url.startswith("postgresql://")
    assert settings.job_store.startswith("redis://")
    assert settings.job_workers == 0  # jobs run in the worker Deployment
    assert settings.auth_token_realm.startswith("https://")
    assert environment["CARGOHOLD_STORAGE_DRIVER"] == "s3"


def _pod(name: str) -> dict[str, Any]:
    return _one("Deployment", name)["spec"]["template"]["spec"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", ["cargohold", "cargohold-worker"])
def test_pods_run_as_the_image_user_on_a_read_only_root(name: str) -> None:
    pod = _pod(name)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == UID
    assert pod["securityContext"]["runAsGroup"] == UID
    assert pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert "memory" in container["resources"]["limits"]
    assert set(container["resources"]["requests"]) == {"cpu", "memory"}
    # Writable: the data directory and /tmp, each an emptyDir; nothing else.
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    writable = sorted(p for p, m in mounts.items() if not m.get("readOnly"))
    assert writable == ["/tmp", "/var/lib/cargohold"]
    for path in writable:
        assert "emptyDir" in volumes[mounts[path]["name"]]
    assert [e[next(iter(e))]["name"] for e in container["envFrom"]] == ["cargohold", "cargohold"]


def test_the_server_has_two_replicas_probed_on_healthz_and_readyz() -> None:
    deployment = _one("Deployment", "cargohold")
    assert deployment["spec"]["replicas"] == 2
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["serve"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert container["ports"] == [{"name": "http", "containerPort": 5000}]
    # The signing keys every pod shares come from a Secret, where the settings point.
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["token-keys"]["mountPath"] == _environment()["CARGOHOLD_AUTH_TOKEN_KEY_DIR"]
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["token-keys"]["secret"]["secretName"] == "cargohold-token-keys"


def test_the_worker_runs_jobs_only() -> None:
    deployment = _one("Deployment", "cargohold-worker")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["args"][0] == "worker"
    assert "ports" not in container


def test_the_service_and_the_budget_select_the_serving_pods_only() -> None:
    labels = _one("Deployment", "cargohold")["spec"]["template"]["metadata"]["labels"]
    worker_labels = _one("Deployment", "cargohold-worker")["spec"]["template"]["metadata"]["labels"]
    service = _one("Service", "cargohold")["spec"]
    budget = _one("PodDisruptionBudget", "cargohold")["spec"]
    for selector in (service["selector"], budget["selector"]["matchLabels"]):
        assert selector.items() <= labels.items()
        assert not selector.items() <= worker_labels.items()
    assert service["ports"] == [{"name": "http", "port": 5000, "targetPort": "http"}]
    assert budget["minAvailable"] == 1
