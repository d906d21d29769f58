"""`/v2/<name>/manifests/<reference>`: GET, HEAD, PUT and DELETE by tag or digest."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from cargohold.api.context import ANONYMOUS, context
from cargohold.errors import ManifestTooLarge
from cargohold.oci.manifests import MAX_MANIFEST_BYTES


async def _read_limited(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_MANIFEST_BYTES:
        raise ManifestTooLarge(f"manifest is larger than {MAX_MANIFEST_BYTES} bytes")
    parts: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > MAX_MANIFEST_BYTES:
            raise ManifestTooLarge(f"manifest is larger than {MAX_MANIFEST_BYTES} bytes")
        parts.append(chunk)
    return b"".join(parts)


async def manifest(request: Request) -> Response:
    ctx = context(request)
    name = request.path_params["name"]
    reference = request.path_params["reference"]
    method = request.method

    if method in ("GET", "HEAD"):
        stored = ctx.registry.get_manifest(name, reference, count_pull=method == "GET")
        headers = {
            "Docker-Content-Digest": stored.digest,
            "ETag": f'"{stored.digest}"',
            "Content-Length": str(len(stored.content)),
            "Content-Type": stored.media_type,
        }
        if stored.subject_digest:
            headers["OCI-Subject"] = stored.subject_digest
        return Response(stored.content if method == "GET" else b"", headers=headers)

    if method == "PUT":
        body = await _read_limited(request)
        result = await ctx.offload(
            ctx.registry.put_manifest, name, reference, body, request.headers.get("content-type")
        )
        headers = {
            "Location": f"/v2/{name}/manifests/{result.digest}",
            "Docker-Content-Digest": result.digest,
            "Content-Length": "0",
        }
        if result.subject:
            headers["OCI-Subject"] = result.subject
        return Response(status_code=201, headers=headers)

    await ctx.offload(ctx.registry.delete_manifest, name, reference, ANONYMOUS)
    return Response(status_code=202, headers={"Content-Length": "0"})
