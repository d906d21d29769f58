"""Admin API for signature enforcement: a project's trusted keys and its switch (the
signatures extension's routes; the HTTP layer adds them when it is enabled)."""

from __future__ import annotations

from typing import cast

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cargohold.api.boundary import in_pool
from cargohold.api.callers import caller_of
from cargohold.api.context import AppContext, context
from cargohold.api.encoding import json_response
from cargohold.api.models.trust import (
    AddTrustedKey,
    SetEnforcement,
    TrustedKey,
    TrustedKeyList,
    TrustPolicy,
)
from cargohold.api.params import is_read, model_body
from cargohold.errors import TrustKeyInvalid
from cargohold.extensions.signatures import SignaturesExtension
from cargohold.services.signature_policy import SignaturePolicyService


def _policy(ctx: AppContext) -> SignaturePolicyService:
    return cast(SignaturesExtension, ctx.extensions["signatures"]).policy


def _trust_policy(policy: SignaturePolicyService, project: str) -> TrustPolicy:
    return TrustPolicy.of(policy.enforcement(project), policy.keys(project))


async def trust(request: Request) -> Response:
    policy = _policy(context(request))
    project = request.path_params["project"]
    if is_read(request):
        return json_response(await in_pool(_trust_policy, policy, project))
    body = await model_body(request, SetEnforcement, TrustKeyInvalid, "the enforcement setting")
    await in_pool(policy.set_enforcement, project, body.enforce, caller_of(request))
    return json_response(await in_pool(_trust_policy, policy, project))


async def keys(request: Request) -> Response:
    policy = _policy(context(request))
    project = request.path_params["project"]
    if is_read(request):
        rows = await in_pool(policy.keys, project)
        return json_response(TrustedKeyList(keys=[TrustedKey.of(row) for row in rows]))
    body = await model_body(request, AddTrustedKey, TrustKeyInvalid, "the key")
    row = await in_pool(policy.add_key, project, body.pem, caller_of(request))
    return json_response(TrustedKey.of(row), status_code=201)


async def remove_key(request: Request) -> Response:
    policy = _policy(context(request))
    project, fingerprint = request.path_params["project"], request.path_params["fingerprint"]
    await in_pool(policy.remove_key, project, fingerprint, caller_of(request))
    return Response(status_code=204)


ROUTES = [
    Route("/api/v1/projects/{project}/trust", trust, methods=["GET", "PUT"]),
    Route("/api/v1/projects/{project}/trust/keys", keys, methods=["GET", "POST"]),
    Route("/api/v1/projects/{project}/trust/keys/{fingerprint}", remove_key, methods=["DELETE"]),
]
