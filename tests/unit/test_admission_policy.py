"""The admission webhook's pure decisions (policy/admission.py): reading AdmissionReview v1
requests as the API server sends them (built with the `kubernetes` package's models), finding
every container of every workload kind, refusing malformed or tampered requests, and writing
answers that the Kubernetes API types accept."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from cargohold.policy.admission import (
    ALLOW,
    DENY,
    WARN,
    ImageOutcome,
    ReviewInvalid,
    ReviewVerdict,
    containers_of,
    foreign_outcome,
    judge,
    parse_review,
    pin,
    response,
)
from tests.support.admission import GROUPS, answer, patch_of, pod_spec, review, workload

DIGEST = "sha256:" + "ab" * 32
TEMPLATE = "/spec/template/spec"
POINTERS = {
    "Pod": "/spec",
    "Deployment": TEMPLATE,
    "StatefulSet": TEMPLATE,
    "DaemonSet": TEMPLATE,
    "ReplicaSet": TEMPLATE,
    "Job": TEMPLATE,
    "CronJob": "/spec/jobTemplate/spec/template/spec",
}


@pytest.mark.parametrize("kind", sorted(GROUPS))
def test_every_container_of_every_workload_kind_is_found(kind: str) -> None:
    obj = workload(kind, "web", "team", pod_spec("reg/a:1", "reg/b:2", init=("reg/init:1",)))
    request = parse_review(review(obj))
    assert (request.kind, request.namespace, request.name) == (kind, "team", "web")
    found = containers_of(request)
    base = POINTERS[kind]
    assert [(c.section, c.index, c.name, c.image, c.pointer) for c in found] == [
        ("initContainers", 0, "init0", "reg/init:1", f"{base}/initContainers/0/image"),
        ("containers", 0, "c0", "reg/a:1", f"{base}/containers/0/image"),
        ("containers", 1, "c1", "reg/b:2", f"{base}/containers/1/image"),
    ]


def test_ephemeral_containers_and_generated_pod_names() -> None:
    obj = workload("Pod", "debug", "team", pod_spec("reg/a:1", ephemeral=("reg/tools:1",)))
    obj["metadata"] = {"generateName": "web-7d9f8-", "namespace": "team"}
    request = parse_review(review(obj))
    assert request.name == "web-7d9f8-"
    assert [c.section for c in containers_of(request)] == ["containers", "ephemeralContainers"]
    assert containers_of(request)[1].where == 'container "debug0" (ephemeralContainers[0])'


def test_an_update_is_judged_by_the_images_it_changes() -> None:
    old = workload("Deployment", "web", "team", pod_spec("reg/a:1", "reg/b:1"))
    new = workload("Deployment", "web", "team", pod_spec("reg/a:1", "reg/b:2"))
    changed = containers_of(parse_review(review(new, "UPDATE", old=old)))
    assert [c.image for c in changed] == ["reg/b:2"]
    # Scaling (nothing about the images changes) judges nothing; a DELETE never runs anything.
    scaled = copy.deepcopy(old)
    scaled["spec"]["replicas"] = 5
    assert containers_of(parse_review(review(scaled, "UPDATE", old=old))) == []
    assert containers_of(parse_review(review(old, "DELETE"))) == []
    # A kind that runs no pod is admitted without a look.
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}}
    document = review({**old, "kind": "Deployment"})
    document["request"]["kind"]["kind"] = "Service"
    document["request"]["object"] = service
    assert containers_of(parse_review(document)) == []


def _tampered(change: Any) -> dict[str, Any]:
    document = review(workload("Pod", "web", "team", pod_spec("reg/a:1")))
    change(document)
    return document


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda d: d.update(apiVersion="admission.k8s.io/v1beta1"), "apiVersion admission.k8s"),
        (lambda d: d.update(kind="Pod"), "must be an AdmissionReview"),
        (lambda d: d.pop("request"), "request must be a JSON object"),
        (lambda d: d["request"].pop("uid"), "request.uid must be a non-empty string"),
        (lambda d: d["request"].update(uid=7), "request.uid must be a non-empty string"),
        (lambda d: d["request"].update(operation="PATCH"), "request.operation must be one of"),
        (lambda d: d["request"].update(dryRun="yes"), "request.dryRun must be true or false"),
        (lambda d: d["request"].update(object=None), "request.object must be a JSON object"),
        (lambda d: d["request"].update(oldObject=[]), "request.oldObject must be a JSON"),
        (lambda d: d["request"]["kind"].pop("kind"), "request.kind.kind must be"),
        (lambda d: d["request"]["object"].update(spec=[]), "request.object.spec must be a JSON"),
        (
            lambda d: d["request"]["object"]["spec"].update(containers={"c": 1}),
            "containers must be a list",
        ),
        (
            lambda d: d["request"]["object"]["spec"]["containers"][0].update(image=["x"]),
            "containers[0].image must be a non-empty string",
        ),
        (
            lambda d: d["request"]["object"]["spec"]["containers"][0].pop("image"),
            "containers[0].image must be a non-empty string",
        ),
        (
            lambda d: d["request"]["object"]["spec"]["containers"].append("nginx"),
            "containers[1] must be a JSON object",
        ),
    ],
)
def test_tampered_requests_are_refused_saying_what_is_wrong(change: Any, words: str) -> None:
    with pytest.raises(ReviewInvalid, match=words.replace(".", r"\.").replace("[", r"\[")):
        containers_of(parse_review(_tampered(change)))


def test_a_body_that_is_no_review_at_all_is_refused() -> None:
    for body in (None, [], "AdmissionReview", 3):
        with pytest.raises(ReviewInvalid, match="the body must be a JSON object"):
            parse_review(body)


def test_foreign_images_are_allowed_warned_about_or_refused_as_configured() -> None:
    (container,) = containers_of(
        parse_review(review(workload("Pod", "p", "team", pod_spec("docker.io/library/nginx:1"))))
    )
    assert foreign_outcome(container, "docker.io", ALLOW) == ImageOutcome(container)
    warned = foreign_outcome(container, "docker.io", WARN)
    assert warned.refusal is None
    assert warned.warning == (
        'container "c0" (containers[0]): image docker.io/library/nginx:1 is from docker.io, '
        "not this registry; it was not checked"
    )
    denied = foreign_outcome(container, "docker.io", DENY)
    assert denied.warning is None and denied.refusal is not None
    assert denied.refusal.endswith("and images of other registries are refused")


def test_answers_are_admission_reviews_the_kubernetes_types_accept() -> None:
    obj = workload("CronJob", "nightly", "team", pod_spec("reg.example/team/app:1", "ok/x:1"))
    request = review(obj)
    found = containers_of(parse_review(request))
    pinned = ImageOutcome(found[0], "team/app", DIGEST, pinned=f"reg.example/team/app@{DIGEST}")
    refused = ImageOutcome(found[1], refusal='container "c1" (containers[1]): not signed')
    warned = ImageOutcome(found[1], warning="from elsewhere")

    allowed = answer(request, response(request["request"]["uid"], judge([pinned, warned])))
    assert allowed == {
        "uid": request["request"]["uid"],
        "allowed": True,
        "warnings": ["from elsewhere"],
    }

    denied = answer(request, response(request["request"]["uid"], judge([pinned, refused])))
    assert denied["allowed"] is False
    assert denied["status"]["message"] == 'container "c1" (containers[1]): not signed'

    mutated = answer(
        request, response(request["request"]["uid"], ReviewVerdict(True, patch=pin([pinned])))
    )
    assert patch_of(mutated) == [
        {
            "op": "replace",
            "path": "/spec/jobTemplate/spec/template/spec/containers/0/image",
            "value": f"reg.example/team/app@{DIGEST}",
        }
    ]
    # Nothing to pin (a digest already, or nothing verified): no patch at all.
    same = ImageOutcome(found[0], "team/app", DIGEST, pinned=found[0].image)
    assert pin([same, refused]) == []
