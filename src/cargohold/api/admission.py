"""The Kubernetes admission webhook's routes: the validating and mutating endpoints the API
server calls with an AdmissionReview (admission.k8s.io/v1), per cluster, and where an image
was admitted (docs/trust.md#the-kubernetes-admission-webhook).

The API server authenticates with its cluster's bearer token (the access check's ADMISSION
need); a body that is not an AdmissionReview is a 400 with the OCI error, which the API server
treats as a failed call (failurePolicy decides).
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cargohold.api.bodies import read_body
from cargohold.api.boundary import in_pool
from cargohold.api.context import context
from cargohold.api.encoding import json_response
from cargohold.api.models.admission import Admission, AdmissionList
from cargohold.errors import AdmissionReviewInvalid
from cargohold.parsing.json_document import JsonInvalid, load_json
from cargohold.policy.admission import (
    ReviewInvalid,
    ReviewRequest,
    ReviewVerdict,
    parse_review,
    response,
)
from cargohold.services.admission import DEFAULT_CLUSTER

# An AdmissionReview carries the object and, on an update, the old one: each may be as large
# as etcd allows (1.5 MiB), so this is more than the admin API's JSON bodies.
MAX_REVIEW_BYTES = 8 * 1024 * 1024


def cluster_of(request: Request) -> str:
    """The cluster the webhook URL names (the access check matched its token to it)."""
    return str(request.path_params.get("cluster", DEFAULT_CLUSTER))


async def _review(request: Request) -> ReviewRequest:
    try:
        body = await read_body(request, MAX_REVIEW_BYTES)
    except ClientDisconnect:
        raise AdmissionReviewInvalid("the AdmissionReview could not be read") from None
    try:
        return parse_review(load_json(body))
    except (JsonInvalid, ReviewInvalid) as exc:
        raise AdmissionReviewInvalid(str(exc)) from None


async def _judged(request: Request, judge: Callable[[ReviewRequest], ReviewVerdict]) -> Response:
    review = await _review(request)
    try:
        verdict = await in_pool(judge, review)
    except ReviewInvalid as exc:  # a pod spec that is not one (found while judging it)
        raise AdmissionReviewInvalid(str(exc)) from None
    return JSONResponse(response(review.uid, verdict))


async def validate(request: Request) -> Response:
    admission, cluster = context(request).admission, cluster_of(request)
    return await _judged(request, lambda review: admission.validate(cluster, review))


async def mutate(request: Request) -> Response:
    return await _judged(request, context(request).admission.mutate)


async def where(request: Request) -> Response:
    ctx = context(request)
    repository = request.path_params["name"]
    reference = request.query_params.get("reference") or None
    digest, rows = await in_pool(ctx.admission.where, repository, reference)
    return json_response(
        AdmissionList(
            repository=repository,
            digest=digest,
            keep_days=ctx.settings.admission_keep_days,
            admissions=[Admission.of(row) for row in rows],
        )
    )


ROUTES = [
    Route("/api/v1/admission", validate, methods=["POST"]),
    Route("/api/v1/admission/mutate", mutate, methods=["POST"]),
    Route("/api/v1/admission/clusters/{cluster}", validate, methods=["POST"]),
    Route("/api/v1/admission/clusters/{cluster}/mutate", mutate, methods=["POST"]),
    Route("/api/v1/repositories/{name:path}/admissions", where, methods=["GET"]),
]
