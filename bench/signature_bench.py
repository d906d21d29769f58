"""Setting up the signature-enforcement benchmark (run.py's `manifest_get_signed`): a trusted
key in the small images' project, every image signed as `cargohold sign` signs (the `.sig`
tag), and the project's switch. Untimed; through the admin API and the registry API."""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

import client
from cargohold.oci.digests import compute

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.support
from tests.support.signing import SigningKey, sign


def enforce_signed(
    base: str, admin: dict[str, str], project: str, images: list[client.SmallImage]
) -> float:
    """Trust a new key in `project`, sign every image with it, turn enforcement on; seconds."""
    started = time.monotonic()
    key = SigningKey.generate()
    host = base.split("://", 1)[1]
    with httpx.Client(base_url=base, headers=admin, timeout=120) as http:
        response = http.post(f"/api/v1/projects/{project}/trust/keys", json={"pem": key.pem})
        if response.status_code not in (201, 409):
            raise RuntimeError(f"adding the key: {response.status_code} {response.text[:200]}")

        def sign_one(image: client.SmallImage) -> None:
            sign(http, host, image.repo, compute(image.manifest), key)

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(sign_one, images))
        set_enforcement(http, project, True)
    return time.monotonic() - started


def set_enforcement(http: httpx.Client, project: str, on: bool) -> None:
    response = http.put(f"/api/v1/projects/{project}/trust", content=json.dumps({"enforce": on}))
    if response.status_code != 200:
        raise RuntimeError(f"enforcement {on}: {response.status_code} {response.text[:200]}")


def enforcement(base: str, admin: dict[str, str], project: str, on: bool) -> None:
    with httpx.Client(base_url=base, headers=admin, timeout=120) as http:
        set_enforcement(http, project, on)
