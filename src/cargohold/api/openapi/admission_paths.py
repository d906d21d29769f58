"""OpenAPI paths for the Kubernetes admission webhook (api/admission.py): the validating and
mutating endpoints a cluster's API server calls, and where an image was admitted."""

from __future__ import annotations

from typing import Any

from cargohold.api.openapi.common import REPOSITORY_NAME, error_response, model_response

# An AdmissionReview (admission.k8s.io/v1) is Kubernetes' document, described by Kubernetes;
# only the fields the webhook reads and writes are named here.
_REVIEW: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind"],
    "properties": {
        "apiVersion": {"const": "admission.k8s.io/v1"},
        "kind": {"const": "AdmissionReview"},
        "request": {
            "type": "object",
            "description": "uid, kind, namespace, operation and object (a Pod, a workload "
            "with a pod template, or a CronJob)",
        },
        "response": {
            "type": "object",
            "description": "uid (the request's), allowed, status.message when refused, "
            "warnings, and on the mutating endpoint a base64 JSONPatch (patchType JSONPatch) "
            "that pins each image of this registry to its digest",
        },
    },
}
_REVIEW_BODY = {"required": True, "content": {"application/json": {"schema": _REVIEW}}}
_REVIEW_ANSWER = {
    "description": "The AdmissionReview with its response: allowed or refused, and why",
    "content": {"application/json": {"schema": _REVIEW}},
}
_ERRORS = {
    "400": error_response(
        "ADMISSION_REVIEW_INVALID: the body is not an AdmissionReview v1 request (the API "
        "server then applies the webhook's failurePolicy)"
    ),
    "401": error_response("UNAUTHORIZED: no bearer token, or not this cluster's"),
}
_CLUSTER = [
    {
        "name": "cluster",
        "in": "path",
        "required": True,
        "description": "The cluster's name, as admission_tokens names it; records say it",
        "schema": {"type": "string"},
    }
]


def _review(operation_id: str, summary: str) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "summary": summary,
        "description": "The API server authenticates with the cluster's bearer token "
        "(the admission_tokens setting)",
        "requestBody": _REVIEW_BODY,
        "responses": {"200": _REVIEW_ANSWER, **_ERRORS},
    }


_VALIDATE = (
    "Judge a workload's images (the registry's pull gate, signature enforcement, digest "
    "references when required) and remember the admitted ones"
)
_MUTATE = "Pin each image of this registry that the workload names by tag to its digest"

PATHS: dict[str, Any] = {
    "/api/v1/admission": {
        "post": _review("validateAdmission", f"{_VALIDATE} (the default cluster)"),
    },
    "/api/v1/admission/mutate": {
        "post": _review("mutateAdmission", f"{_MUTATE} (the default cluster)"),
    },
    "/api/v1/admission/clusters/{cluster}": {
        "parameters": _CLUSTER,
        "post": _review("validateClusterAdmission", f"{_VALIDATE} (the named cluster)"),
    },
    "/api/v1/admission/clusters/{cluster}/mutate": {
        "parameters": _CLUSTER,
        "post": _review("mutateClusterAdmission", f"{_MUTATE} (the named cluster)"),
    },
    "/api/v1/repositories/{name}/admissions": {
        "parameters": [
            REPOSITORY_NAME,
            {
                "name": "reference",
                "in": "query",
                "required": False,
                "description": "a tag (the digest it names now) or a digest; without it, "
                "every digest of the repository",
                "schema": {"type": "string"},
            },
        ],
        "get": {
            "operationId": "listAdmissions",
            "summary": "Where the image runs: each cluster, namespace and workload the "
            "webhook admitted it for, latest first (whoever may pull from the repository)",
            "responses": {
                "200": model_response("The admissions", "AdmissionList"),
                "404": error_response("NAME_UNKNOWN or MANIFEST_UNKNOWN (an unknown tag)"),
            },
        },
    },
}
