"""`/v2/<name>/manifests/<reference>`: GET, HEAD, PUT and DELETE by tag or digest."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from cargohold.api.bodies import CLOSE, read_body
from cargohold.api.boundary import fast_read, in_pool
from cargohold.api.callers import caller_of
from cargohold.api.context import context
from cargohold.api.responses import RawResponse
from cargohold.errors import ManifestTooLarge, RegistryError, rate_limit_headers
from cargohold.oci.manifests import MAX_MANIFEST_BYTES
from cargohold.policy.pull_limits import RateStatus
from cargohold.services.registry import GatedPull


def _too_large(limit: int) -> RegistryError:
    # The spec: a registry SHOULD accept manifests of at least 4 MB and SHOULD answer a larger
    # one with 413 Payload Too Large.
    return ManifestTooLarge(f"manifest is larger than {limit} bytes", headers=CLOSE)


def rate_limit_header_list(status: RateStatus) -> list[tuple[bytes, bytes]]:
    """`ratelimit-limit` and `ratelimit-remaining`, as Docker Hub sends them on manifest
    GET and HEAD when a limit applies."""
    limit = status.limit
    headers = rate_limit_headers(limit.pulls, limit.window_seconds, status.remaining)
    return [(key.encode("latin-1"), value.encode("latin-1")) for key, value in headers.items()]


async def manifest(request: Request) -> Response:
    ctx = context(request)
    name = request.path_params["name"]
    reference = request.path_params["reference"]
    method = request.method

    if method in ("GET", "HEAD"):
        # A GET is a pull, counted and audited under its caller (batched: no write here).
        puller = caller_of(request) if method != "HEAD" else None
        # With every limit off (the default) nothing more is asked: the GET stays a fast read.
        limits = ctx.pull_limits
        budget = limits.budget_of(caller_of(request)) if limits.enabled else None
        status: RateStatus | None = None
        if budget is not None:
            # Counting touches the database or Redis: the whole GET or HEAD runs on the pool.
            stored, status = await in_pool(limits.manifest, name, reference, puller, budget)
        else:
            try:
                stored = fast_read(ctx.registry.get_manifest, name, reference, puller)
            except GatedPull as gated:
                # A pull gate applies to this repository (a project with a scan policy): its
                # check queries, so it runs on the pool; every other GET stays a fast read.
                assert puller is not None
                stored = await in_pool(
                    ctx.registry.pass_gates, name, reference, gated.stored, puller
                )
        digest = stored.digest.encode("latin-1")
        headers = [
            (b"docker-content-digest", digest),
            (b"etag", b'"%s"' % digest),
            (b"content-length", b"%d" % len(stored.content)),
            (b"content-type", stored.media_type.encode("latin-1")),
        ]
        if stored.subject_digest:
            headers.append((b"oci-subject", stored.subject_digest.encode("latin-1")))
        if status is not None:
            headers.extend(rate_limit_header_list(status))
        return RawResponse(stored.content if method != "HEAD" else b"", headers)

    if method == "PUT":
        body = await read_body(request, MAX_MANIFEST_BYTES, _too_large)
        result = await in_pool(
            ctx.registry.put_manifest,
            name,
            reference,
            body,
            request.headers.get("content-type"),
            caller_of(request),
        )
        headers = {
            "Location": f"/v2/{name}/manifests/{result.digest}",
            "Docker-Content-Digest": result.digest,
            "Content-Length": "0",
        }
        if result.subject:
            headers["OCI-Subject"] = result.subject
        return Response(status_code=201, headers=headers)

    await in_pool(ctx.registry.delete_manifest, name, reference, caller_of(request))
    return Response(status_code=202, headers={"Content-Length": "0"})
