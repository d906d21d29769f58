"""The CLI's one OCI distribution client, for any registry: what signing and verifying read
and write (sign, verify, `tags --key`) and what a scan of a remote image copies
(image_pull.py). Sign-in is registry_auth.py's token flow.

It implements trust.discovery.SignatureSource; every failure is a RegistryError with a
one-line message.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin

import httpx

from cargohold.cli.auth_files import server_host
from cargohold.cli.registry_auth import RegistryAuth, RegistryError, refusal
from cargohold.oci.digests import algorithm_of, compute, is_valid_digest
from cargohold.oci.mediatypes import MANIFEST_ACCEPT, OCI_INDEX
from cargohold.trust.discovery import FetchedManifest
from cargohold.trust.signing import Blob

MAX_MANIFEST_BYTES = 4 << 20
# Signature payloads and bundles are small; anything larger is refused unread.
MAX_BLOB_BYTES = 8 << 20
MAX_REFERRER_PAGES = 20
CHUNK = 1 << 20


def _error_text(response: httpx.Response) -> str:
    try:
        error = response.json()["errors"][0]
        return f"{error['code']}: {error.get('message') or ''}".rstrip(": ")
    except (ValueError, KeyError, IndexError, TypeError):
        return f"HTTP {response.status_code}"


class RegistryClient:
    """One repository of a registry, read (and with `push`, written) over the OCI API."""

    def __init__(
        self, base: str, repository: str, push: bool = False, timeout: float = 30.0
    ) -> None:
        self.base = base.rstrip("/")
        self.host = server_host(self.base)
        self.repository = repository
        self.auth = RegistryAuth(self.base, repository, "pull,push" if push else "pull")
        plain = self.base.startswith("http://")
        self._http = httpx.Client(timeout=timeout, verify=not plain, auth=self.auth)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _url(self, kind: str, reference: str = "") -> str:
        name = quote(self.repository, safe="/")
        return f"{self.base}/v2/{name}/{kind}/{quote(reference, safe=':')}"

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise RegistryError(f"cannot reach {self.base}: {exc}") from None

    def _where(self, reference: str = "") -> str:
        if not reference:
            return f"{self.host}/{self.repository}"
        sep = "@" if ":" in reference else ":"  # a tag has no colon, a digest has one
        return f"{self.host}/{self.repository}{sep}{reference}"

    def _fail(self, response: httpx.Response, what: str) -> RegistryError:
        where = self._where()
        if response.status_code == 401:
            said = refusal(self.host, self.auth.credential, 401)
            return RegistryError(f"{where}: {what}: {said}")
        if response.status_code == 403:
            return RegistryError(f"{where}: {what}: denied ({_error_text(response)})")
        return RegistryError(f"{where}: {what}: {_error_text(response)}")

    def _read(self, response: httpx.Response, limit: int, what: str) -> bytes:
        length = response.headers.get("content-length")
        if length and length.isdigit() and int(length) > limit:
            raise RegistryError(f"{self._where()}: {what} is over {limit} bytes")
        data = response.content
        if len(data) > limit:
            raise RegistryError(f"{self._where()}: {what} is over {limit} bytes")
        return data

    def _manifest_response(self, reference: str) -> httpx.Response:
        return self._send("GET", self._url("manifests", reference), headers=_ACCEPT)

    def resolve(self, reference: str) -> FetchedManifest:
        """The manifest a tag or digest names; an image that is not there is an error."""
        response = self._manifest_response(reference)
        if response.status_code == 404:
            raise RegistryError(
                f"{self._where(reference)}: no such image ({_error_text(response)})"
            )
        return self._fetched(response, reference)

    def descriptor(self, reference: str) -> dict[str, Any]:
        """The descriptor (mediaType, digest, size) of the manifest a tag or digest names,
        read with HEAD: a registry that enforces signatures refuses the GET of an image that
        is not signed yet, never its HEAD (clients resolve digests with it). A registry whose
        HEAD does not tell all three is asked with GET."""
        response = self._send("HEAD", self._url("manifests", reference), headers=_ACCEPT)
        if response.status_code == 404:
            raise RegistryError(f"{self._where(reference)}: no such image")
        digest = response.headers.get("docker-content-digest", "")
        length = response.headers.get("content-length", "")
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        told = is_valid_digest(digest) and length.isdigit() and media_type
        if response.status_code == 200 and told:
            if is_valid_digest(reference) and digest != reference:
                raise RegistryError(
                    f"{self._where(reference)}: the registry named it by digest {digest}"
                )
            return {"mediaType": media_type, "digest": digest, "size": int(length)}
        fetched = self.resolve(reference)
        return {"mediaType": fetched.media_type, "digest": fetched.digest, "size": fetched.size}

    def manifest(self, reference: str) -> FetchedManifest | None:
        response = self._manifest_response(reference)
        if response.status_code == 404:
            return None
        return self._fetched(response, reference)

    def _fetched(self, response: httpx.Response, reference: str) -> FetchedManifest:
        """The manifest of a GET's answer, its digest checked when asked for by digest."""
        if response.status_code != 200:
            raise self._fail(response, f"manifest {reference}")
        content = self._read(response, MAX_MANIFEST_BYTES, f"manifest {reference}")
        digest = compute(content)
        if is_valid_digest(reference):
            digest = compute(content, algorithm_of(reference))
            if digest != reference:
                raise RegistryError(
                    f"{self._where(reference)}: the registry sent a manifest whose digest is "
                    f"{digest}"
                )
        try:
            document = json.loads(content)
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise RegistryError(f"{self._where()}: manifest {reference} is not JSON")
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        return FetchedManifest(
            digest, str(document.get("mediaType") or media_type), document, len(content), content
        )

    def blob(self, digest: str) -> bytes:
        response = self._send("GET", self._url("blobs", digest), follow_redirects=True)
        if response.status_code != 200:
            raise self._fail(response, f"blob {digest}")
        return self._read(response, MAX_BLOB_BYTES, f"blob {digest}")

    def referrers(self, digest: str) -> list[dict[str, Any]] | None:
        """The referrers API's descriptors (following its `Link` pages); None when the
        registry answers 404 (it has no referrers API: the spec's signal to use the tag
        schema) or answers with something other than an image index."""
        url: str | None = self._url("referrers", digest)
        found: list[dict[str, Any]] = []
        for _ in range(MAX_REFERRER_PAGES):
            if url is None:
                break
            response = self._send("GET", url, headers={"Accept": OCI_INDEX})
            if response.status_code == 404 and not found:
                return None
            if response.status_code != 200:
                raise self._fail(response, f"referrers of {digest}")
            try:
                document = json.loads(self._read(response, MAX_MANIFEST_BYTES, "referrers"))
                manifests = document["manifests"]
            except (ValueError, KeyError, TypeError):
                return found or None
            found.extend(entry for entry in manifests or [] if isinstance(entry, dict))
            url = _next_link(response, url)
        return found

    def download_blob(self, digest: str, target: Path) -> None:
        """Stream a blob of any size into `target` (through `target.part`), checking its
        digest as it arrives; registries often redirect blobs to object storage."""
        if not is_valid_digest(digest):
            raise RegistryError(f"{self._where()}: unsupported blob digest {digest!r}")
        hasher = hashlib.new(algorithm_of(digest))
        partial = target.with_suffix(".part")
        try:
            with self._http.stream("GET", self._url("blobs", digest), follow_redirects=True) as got:
                if got.status_code != 200:
                    got.read()
                    raise self._fail(got, f"blob {digest}")
                with open(partial, "wb") as file:
                    for chunk in got.iter_bytes(CHUNK):
                        hasher.update(chunk)
                        file.write(chunk)
        except httpx.HTTPError as exc:
            raise RegistryError(f"{self._where()}: reading blob {digest} failed: {exc}") from None
        if f"{algorithm_of(digest)}:{hasher.hexdigest()}" != digest:
            raise RegistryError(f"{self._where()}: blob {digest} arrived with another digest")
        partial.rename(target)

    def has_blob(self, digest: str) -> bool:
        response = self._send("HEAD", self._url("blobs", digest))
        return response.status_code == 200

    def push_blob(self, blob: Blob) -> None:
        """Upload a blob (skipped when the repository has it), monolithically: POST, PUT."""
        if self.has_blob(blob.digest):
            return
        response = self._send("POST", self._url("blobs", "uploads/"))
        if response.status_code != 202 or "location" not in response.headers:
            raise self._fail(response, "blob upload")
        location = urljoin(f"{self.base}/", response.headers["location"])
        sep = "&" if "?" in location else "?"
        response = self._send(
            "PUT",
            f"{location}{sep}digest={quote(blob.digest, safe=':')}",
            content=blob.data,
            headers={"Content-Type": "application/octet-stream"},
        )
        if response.status_code != 201:
            raise self._fail(response, f"blob upload {blob.digest}")

    def put_manifest(self, reference: str, content: bytes, media_type: str) -> httpx.Headers:
        response = self._send(
            "PUT",
            self._url("manifests", reference),
            content=content,
            headers={"Content-Type": media_type},
        )
        if response.status_code != 201:
            raise self._fail(response, f"manifest push {reference}")
        return response.headers


_ACCEPT = {"Accept": MANIFEST_ACCEPT}


def _next_link(response: httpx.Response, url: str) -> str | None:
    for link in response.headers.get_list("link"):
        target, _, rel = link.partition(";")
        if 'rel="next"' in rel.replace(" ", ""):
            return urljoin(url, target.strip().strip("<>"))
    return None
