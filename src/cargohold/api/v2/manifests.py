"""`/v2/<name>/manifests/<reference>`: GET, HEAD, PUT and DELETE by tag or digest."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from cargohold.api.bodies import CLOSE, read_body
from cargohold.api.boundary import fast_read, in_pool
from cargohold.api.callers import caller_of
from cargohold.api.context import context
from cargohold.api.responses import RawResponse
from cargohold.errors import ManifestTooLarge, RegistryError
from cargohold.oci.manifests import MAX_MANIFEST_BYTES
from cargohold.services.registry import GatedPull


def _too_large(limit: int) -> RegistryError:
    # The spec: a registry SHOULD accept manifests of at least 4 MB and SHOULD answer a larger
    # one with 413 Payload Too Large.
    return ManifestTooLarge(f"manifest is larger than {limit} bytes", headers=CLOSE)


async def manifest(request: Request) -> Response:
    ctx = context(request)
    name = request.path_params["name"]
    reference = request.path_params["reference"]
    method = request.method

    if method in ("GET", "HEAD"):
        # A GET is a pull, counted and audited under its caller (batched: no write here).
        puller = caller_of(request) if method == "GET" else None
        try:
            stored = fast_read(ctx.registry.get_manifest, name, reference, puller)
        except GatedPull as gated:
            # A pull gate applies to this repository (a project with a scan policy): its check
            # queries, so it runs on the pool; every other GET stays a fast read.
            assert puller is not None
            stored = await in_pool(ctx.registry.pass_gates, name, reference, gated.stored, puller)
        digest = stored.digest.encode("latin-1")
        headers = [
            (b"docker-content-digest", digest),
            (b"etag", b'"%s"' % digest),
            (b"content-length", b"%d" % len(stored.content)),
            (b"content-type", stored.media_type.encode("latin-1")),
        ]
        if stored.subject_digest:
            headers.append((b"oci-subject", stored.subject_digest.encode("latin-1")))
        return RawResponse(stored.content if method == "GET" else b"", headers)

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
