"""The admission webhook's configurations under deploy/kubernetes/admission/: valid for the
Kubernetes versions test_kubernetes.py names (kubernetes-validate, strict), and saying what
the webhook needs: AdmissionReview v1, a dry run records nothing, a failure stops the pod,
the cluster's own namespaces left alone, every workload kind the webhook reads, and the URL
of a cluster (the mutating one's ending in /mutate)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from cargohold.api.route_access import ROUTE_NEEDS
from cargohold.policy.admission import POD_SPEC_PATHS
from tests.deploy.files import KUBERNETES
from tests.deploy.test_kubernetes import KUBERNETES_VERSIONS

ADMISSION = KUBERNETES / "admission"
# The resource each kind is known by in a webhook rule.
RESOURCES = {
    "Pod": "pods",
    "ReplicationController": "replicationcontrollers",
    "Deployment": "deployments",
    "ReplicaSet": "replicasets",
    "StatefulSet": "statefulsets",
    "DaemonSet": "daemonsets",
    "Job": "jobs",
    "CronJob": "cronjobs",
}


def _documents() -> dict[str, dict[str, Any]]:
    found = {}
    for path in sorted(ADMISSION.glob("*.yaml")):
        (document,) = [d for d in yaml.safe_load_all(Path(path).read_text()) if d]
        found[document["kind"]] = document
    return found


def test_both_configurations_are_there() -> None:
    assert sorted(_documents()) == [
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
    ]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_they_are_valid_for_kubernetes(version: str) -> None:
    for kind, document in _documents().items():
        try:
            kubernetes_validate.validate(document, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{kind}: {exc.message} at {list(exc.path)}")


def test_they_ask_what_the_webhook_answers() -> None:
    documents = _documents()
    for kind, document in documents.items():
        (webhook,) = document["webhooks"]
        assert webhook["admissionReviewVersions"] == ["v1"]
        assert webhook["failurePolicy"] == "Fail"
        url = webhook["clientConfig"]["url"]
        assert url.startswith("https://")  # the API server calls webhooks over TLS only
        path = "/api/v1/" + url.split("/api/v1/", 1)[1]
        expected = "/api/v1/admission/clusters/{cluster}"
        if kind == "MutatingWebhookConfiguration":
            expected += "/mutate"
        assert path.replace("/prod", "/{cluster}") == expected and expected in ROUTE_NEEDS
        excluded = webhook["namespaceSelector"]["matchExpressions"][0]
        assert excluded["operator"] == "NotIn" and "kube-system" in excluded["values"]
        resources = {r for rule in webhook["rules"] for r in rule["resources"]}
        assert {RESOURCES[k] for k in POD_SPEC_PATHS} | {"pods/ephemeralcontainers"} == resources
    # The validating webhook records what it admits, except on a dry run.
    (validating,) = documents["ValidatingWebhookConfiguration"]["webhooks"]
    assert validating["sideEffects"] == "NoneOnDryRun"
    (mutating,) = documents["MutatingWebhookConfiguration"]["webhooks"]
    assert mutating["sideEffects"] == "None"
