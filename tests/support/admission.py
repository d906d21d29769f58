"""AdmissionReview documents as a Kubernetes API server sends them, and checks of the answers
against the Kubernetes API types.

Workloads are built with the `kubernetes` package's models (V1Pod, V1Deployment, ...) and
serialised by its ApiClient, so a request carries exactly the JSON the API server would. The
package ships no AdmissionReview model (admission.k8s.io is a webhook API, not one a client
calls), so a response is checked field by field against the AdmissionReview v1,
AdmissionResponse and metav1.Status field sets of the Kubernetes API reference, its `status`
is deserialised into V1Status, and a JSONPatch is applied to the object, which must
deserialise again into its own model.
"""

from __future__ import annotations

import base64
import itertools
import json
from typing import Any

import jsonpatch
from kubernetes import client as k8s

API_VERSION = "admission.k8s.io/v1"
# https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/
# (AdmissionReview v1): the fields of a response.
REVIEW_FIELDS = {"apiVersion", "kind", "response"}
RESPONSE_FIELDS = {"uid", "allowed", "status", "patch", "patchType", "auditAnnotations", "warnings"}
# What request.kind and request.resource say of each workload kind.
GROUPS = {
    "Pod": ("", "v1", "pods"),
    "Deployment": ("apps", "v1", "deployments"),
    "StatefulSet": ("apps", "v1", "statefulsets"),
    "DaemonSet": ("apps", "v1", "daemonsets"),
    "ReplicaSet": ("apps", "v1", "replicasets"),
    "Job": ("batch", "v1", "jobs"),
    "CronJob": ("batch", "v1", "cronjobs"),
}
MODELS = {
    "Pod": "V1Pod",
    "Deployment": "V1Deployment",
    "StatefulSet": "V1StatefulSet",
    "DaemonSet": "V1DaemonSet",
    "ReplicaSet": "V1ReplicaSet",
    "Job": "V1Job",
    "CronJob": "V1CronJob",
}
_API = k8s.ApiClient()
_uids = itertools.count()


class _Raw:
    """What ApiClient.deserialize reads: a response whose `data` is the JSON text."""

    def __init__(self, document: Any) -> None:
        self.data = json.dumps(document)


def serialise(model: Any) -> dict[str, Any]:
    return _API.sanitize_for_serialization(model)  # type: ignore[no-any-return]


def deserialise(document: Any, model: str) -> Any:
    return _API.deserialize(_Raw(document), model)


def containers(*images: str, prefix: str = "c") -> list[k8s.V1Container]:
    return [k8s.V1Container(name=f"{prefix}{i}", image=image) for i, image in enumerate(images)]


def pod_spec(
    *images: str, init: tuple[str, ...] = (), ephemeral: tuple[str, ...] = ()
) -> k8s.V1PodSpec:
    return k8s.V1PodSpec(
        containers=containers(*images),
        init_containers=containers(*init, prefix="init") or None,
        ephemeral_containers=[
            k8s.V1EphemeralContainer(name=f"debug{i}", image=image)
            for i, image in enumerate(ephemeral)
        ]
        or None,
    )


def workload(kind: str, name: str, namespace: str, spec: k8s.V1PodSpec) -> dict[str, Any]:
    """A workload of `kind` running the pod spec, as JSON."""
    meta = k8s.V1ObjectMeta(name=name, namespace=namespace)
    labels = {"app": name}
    template = k8s.V1PodTemplateSpec(metadata=k8s.V1ObjectMeta(labels=labels), spec=spec)
    selector = k8s.V1LabelSelector(match_labels=labels)
    if kind == "Pod":
        model: Any = k8s.V1Pod(api_version="v1", kind=kind, metadata=meta, spec=spec)
    elif kind == "Deployment":
        model = k8s.V1Deployment(
            api_version="apps/v1",
            kind=kind,
            metadata=meta,
            spec=k8s.V1DeploymentSpec(selector=selector, template=template),
        )
    elif kind == "StatefulSet":
        model = k8s.V1StatefulSet(
            api_version="apps/v1",
            kind=kind,
            metadata=meta,
            spec=k8s.V1StatefulSetSpec(selector=selector, template=template, service_name=name),
        )
    elif kind == "DaemonSet":
        model = k8s.V1DaemonSet(
            api_version="apps/v1",
            kind=kind,
            metadata=meta,
            spec=k8s.V1DaemonSetSpec(selector=selector, template=template),
        )
    elif kind == "ReplicaSet":
        model = k8s.V1ReplicaSet(
            api_version="apps/v1",
            kind=kind,
            metadata=meta,
            spec=k8s.V1ReplicaSetSpec(selector=selector, template=template),
        )
    elif kind == "Job":
        model = k8s.V1Job(
            api_version="batch/v1", kind=kind, metadata=meta, spec=k8s.V1JobSpec(template=template)
        )
    else:
        assert kind == "CronJob", kind
        model = k8s.V1CronJob(
            api_version="batch/v1",
            kind=kind,
            metadata=meta,
            spec=k8s.V1CronJobSpec(
                schedule="*/5 * * * *",
                job_template=k8s.V1JobTemplateSpec(spec=k8s.V1JobSpec(template=template)),
            ),
        )
    return serialise(model)


def review(
    obj: dict[str, Any],
    operation: str = "CREATE",
    dry_run: bool = False,
    old: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The AdmissionReview v1 request an API server sends about `obj`."""
    kind = obj["kind"]
    group, version, resource = GROUPS[kind]
    return {
        "apiVersion": API_VERSION,
        "kind": "AdmissionReview",
        "request": {
            "uid": f"705ab4f5-6393-11e8-b7cc-{next(_uids):012d}",
            "kind": {"group": group, "version": version, "kind": kind},
            "resource": {"group": group, "version": version, "resource": resource},
            "requestKind": {"group": group, "version": version, "kind": kind},
            "requestResource": {"group": group, "version": version, "resource": resource},
            "name": obj["metadata"].get("name", ""),
            "namespace": obj["metadata"]["namespace"],
            "operation": operation,
            "userInfo": {"username": "alice", "groups": ["system:authenticated"]},
            "object": obj,
            "oldObject": old,
            "dryRun": dry_run,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
        },
    }


def answer(request: dict[str, Any], document: Any) -> dict[str, Any]:
    """The response of an AdmissionReview v1 answer to `request`, checked against the
    Kubernetes types: only their fields, the request's uid, a status that is a V1Status, a
    patch that is a base64 JSONPatch leaving an object of the same kind."""
    assert isinstance(document, dict)
    assert set(document) == REVIEW_FIELDS, document
    assert document["apiVersion"] == API_VERSION and document["kind"] == "AdmissionReview"
    response = document["response"]
    assert set(response) <= RESPONSE_FIELDS, response
    assert response["uid"] == request["request"]["uid"]
    assert isinstance(response["allowed"], bool)
    if "status" in response:
        status = deserialise(response["status"], "V1Status")
        assert serialise(status) == response["status"]  # nothing the type does not know
        assert status.code == 403 and status.message
    for warning in response.get("warnings", []):
        assert isinstance(warning, str) and warning
    if "patch" in response or "patchType" in response:
        assert response["patchType"] == "JSONPatch"
        patched = patched_object(request, response)
        model = MODELS[request["request"]["object"]["kind"]]
        assert serialise(deserialise(patched, model)) == patched
    return response  # type: ignore[no-any-return]


def patch_of(response: dict[str, Any]) -> list[dict[str, Any]]:
    return json.loads(base64.b64decode(response["patch"], validate=True))  # type: ignore[no-any-return]


def patched_object(request: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    return jsonpatch.apply_patch(request["request"]["object"], patch_of(response))  # type: ignore[no-any-return]
