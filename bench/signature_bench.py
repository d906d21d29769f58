"""Setting up the signature-enforcement benchmark (run.py's `manifest_get_signed`): a trusted
key in the small images' project, every image signed as `cargohold sign` signs (the `.sig`
tag), and the project's switch. Untimed; through the admin API and the registry API."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from cryptography.hazmat.primitives.asymmetric import ec

import client
from cargohold.trust.formats import signature_tag
from cargohold.trust.keys import public_key_pem
from cargohold.trust.payload import build_payload
from cargohold.trust.signing import sign_payload, signature_tag_manifest


def _sha(data: bytes) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(data).hexdigest()


def _push_blob(http: httpx.Client, repo: str, data: bytes) -> None:
    digest = _sha(data)
    if http.head(f"/v2/{repo}/blobs/{digest}").status_code == 200:
        return
    response = http.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=data)
    if response.status_code != 201:
        raise RuntimeError(f"blob push to {repo}: {response.status_code} {response.text[:200]}")


def _sign_one(
    http: httpx.Client, host: str, key: ec.EllipticCurvePrivateKey, image: client.SmallImage
) -> None:
    digest = _sha(image.manifest)
    layer = sign_payload(key, build_payload(f"{host}/{image.repo}", digest))
    manifest = signature_tag_manifest(layer, None)
    assert manifest is not None
    for blob in manifest.blobs:
        _push_blob(http, image.repo, blob.data)
    response = http.put(
        f"/v2/{image.repo}/manifests/{signature_tag(digest)}",
        content=manifest.content,
        headers={"Content-Type": manifest.media_type},
    )
    if response.status_code != 201:
        raise RuntimeError(f"signature push: {response.status_code} {response.text[:200]}")


def enforce_signed(
    base: str, admin: dict[str, str], project: str, images: list[client.SmallImage]
) -> float:
    """Trust a new key in `project`, sign every image with it, turn enforcement on; seconds."""
    started = time.monotonic()
    key = ec.generate_private_key(ec.SECP256R1())
    host = base.split("://", 1)[1]
    with httpx.Client(base_url=base, headers=admin, timeout=120) as http:
        pem = public_key_pem(key.public_key()).decode()
        response = http.post(f"/api/v1/projects/{project}/trust/keys", json={"pem": pem})
        if response.status_code not in (201, 409):
            raise RuntimeError(f"adding the key: {response.status_code} {response.text[:200]}")
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda image: _sign_one(http, host, key, image), images))
        set_enforcement(http, project, True)
    return time.monotonic() - started


def set_enforcement(http: httpx.Client, project: str, on: bool) -> None:
    response = http.put(f"/api/v1/projects/{project}/trust", content=json.dumps({"enforce": on}))
    if response.status_code != 200:
        raise RuntimeError(f"enforcement {on}: {response.status_code} {response.text[:200]}")


def enforcement(base: str, admin: dict[str, str], project: str, on: bool) -> None:
    with httpx.Client(base_url=base, headers=admin, timeout=120) as http:
        set_enforcement(http, project, on)
