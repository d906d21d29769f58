"""Read an image from any registry, as `skopeo copy docker://...` or Trivy does, into a
temporary OCI layout that the local scanner then reads.

- References: `docker://HOST/REPO[:TAG|@DIGEST]` and plain ones (`ghcr.io/org/app:1`,
  `localhost:5000/team/app@sha256:...`, `debian:12` on Docker Hub, which is `docker.io` and
  its `library/` namespace). Loopback hosts are spoken to in plain HTTP, the others in HTTPS.
- Credentials: the CLI's own chain (credentials.py: `CARGOHOLD_USERNAME`/`_PASSWORD`, the
  podman and docker auth files and their credential helpers), else anonymous.
- Authentication: the Docker token flow (a 401 with `Bearer realm=...,service=...,scope=...`:
  a token from the realm, Basic credentials when there are any, an OAuth2 refresh-token
  grant for an `identitytoken`), and plain Basic for a registry that asks for it (a
  distribution with htpasswd).
- Every failure is a PullError with one line for the user; digests are checked as blobs
  arrive.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from cargohold.cli.credentials import Credential, CredentialsUnreadable, registry_credentials
from cargohold.cli.references import ReferenceError, parse_registry_reference, registry_base
from cargohold.oci import mediatypes
from cargohold.oci.digests import compute, is_valid_digest

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
# The keys docker's config.json uses for Docker Hub.
DOCKER_HUB_KEYS = ("index.docker.io", "docker.io", "registry-1.docker.io")
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')
MANIFEST_ACCEPT = ", ".join(
    (
        mediatypes.OCI_INDEX,
        mediatypes.OCI_MANIFEST,
        mediatypes.DOCKER_MANIFEST_LIST,
        mediatypes.DOCKER_MANIFEST,
    )
)
MAX_MANIFEST_BYTES = 4 << 20
CHUNK = 1 << 20


class PullError(Exception):
    """The image could not be read from the registry; the message is one line."""


@dataclass(frozen=True)
class RemoteImage:
    host: str  # as named (`docker.io` for Docker Hub)
    repository: str
    reference: str  # a tag or a digest

    @property
    def api_host(self) -> str:
        return DOCKER_HUB_API if self.host == DOCKER_HUB else self.host

    @property
    def base(self) -> str:
        return registry_base(self.api_host)

    def __str__(self) -> str:
        sep = "@" if is_valid_digest(self.reference) else ":"
        return f"{self.host}/{self.repository}{sep}{self.reference}"


def parse_remote(text: str) -> RemoteImage:
    """`[docker://]HOST/REPO[:TAG|@DIGEST]`; no HOST is Docker Hub (`library/` for one
    component), as docker reads names (cli/references.py parses)."""
    try:
        parsed = parse_registry_reference(text.removeprefix("docker://").removeprefix("//"))
    except ReferenceError as exc:
        raise PullError(
            str(exc).replace(text.removeprefix("docker://").removeprefix("//"), text, 1)
        ) from None
    host, repository = parsed.host or DOCKER_HUB, parsed.repository
    if host in ("index.docker.io", DOCKER_HUB_API):
        host = DOCKER_HUB
    if host == DOCKER_HUB and "/" not in repository:
        repository = f"library/{repository}"
    return RemoteImage(host, repository, parsed.reference)


def _credential(image: RemoteImage) -> Credential | None:
    hosts = DOCKER_HUB_KEYS if image.host == DOCKER_HUB else (image.host,)
    try:
        for host in hosts:
            found = registry_credentials(host, repository=image.repository)
            if found is not None:
                return found
    except CredentialsUnreadable as exc:
        raise PullError(str(exc)) from None
    return None


class TokenAuth(httpx.Auth):
    """Basic or bearer (Docker token flow) authentication, answering the registry's 401."""

    def __init__(self, image: RemoteImage, credential: Credential | None) -> None:
        self.image = image
        self.credential = credential
        self.header: str | None = None  # what the last challenge was answered with

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self.header:
            request.headers["Authorization"] = self.header
        response = yield request
        if response.status_code != 401:
            return
        challenge = response.headers.get("www-authenticate", "")
        scheme, _, params = challenge.partition(" ")
        if scheme.lower() == "bearer":
            response.read()
            token_response = yield self._token_request(dict(_CHALLENGE.findall(params)))
            token_response.read()
            self.header = f"Bearer {self._token(token_response)}"
        elif scheme.lower() == "basic" and self.credential is not None:
            self.header = _basic(self.credential)
        else:
            return
        request.headers["Authorization"] = self.header
        yield request

    def _token_request(self, challenge: dict[str, str]) -> httpx.Request:
        realm = challenge.get("realm")
        if not realm:
            raise PullError(f"{self.image.host}: a bearer challenge without a realm")
        params = {k: v for k, v in challenge.items() if k in ("service", "scope")}
        params.setdefault("scope", f"repository:{self.image.repository}:pull")
        credential = self.credential
        if credential is not None and credential.identity_token:
            form = {
                **params,
                "grant_type": "refresh_token",
                "refresh_token": credential.secret,
                "client_id": "cargohold",
            }
            return httpx.Request("POST", realm, data=form)
        request = httpx.Request("GET", realm, params=params)
        if credential is not None:
            request.headers["Authorization"] = _basic(credential)
        return request

    def _token(self, response: httpx.Response) -> str:
        if response.status_code in (401, 403):
            raise PullError(
                f"{self.image}: the registry's token service refused "
                + ("the credentials found" if self.credential else "anonymous access")
                + f" (HTTP {response.status_code})"
                + ("" if self.credential else f"; log in first: `docker login {self.image.host}`")
            )
        try:
            document = response.json()
            token = document.get("token") or document.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if response.status_code != 200 or not isinstance(token, str) or not token:
            raise PullError(
                f"{self.image}: no token from the registry's token service "
                f"(HTTP {response.status_code})"
            )
        return token


class RegistryReader:
    """Copies one image (every platform of an index) into an OCI layout directory."""

    def __init__(self, image: RemoteImage, timeout: float = 60.0) -> None:
        self.image = image
        plain = image.base.startswith("http://")
        self.http = httpx.Client(
            base_url=image.base,
            timeout=timeout,
            verify=not plain,
            follow_redirects=True,  # blobs are often served from object storage
            auth=TokenAuth(image, _credential(image)),
        )

    def __enter__(self) -> RegistryReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def _get(self, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        try:
            response = self.http.get(path, headers=headers)
        except httpx.HTTPError as exc:
            raise PullError(f"{self.image}: cannot reach {self.image.base}: {exc}") from None
        self._check(response, path)
        return response

    def _check(self, response: httpx.Response, what: str) -> None:
        if response.status_code < 400:
            return
        if response.status_code == 401:
            how = (
                "the credentials found were refused"
                if self.http.auth.credential is not None  # type: ignore[union-attr]
                else "no credentials for it in the auth files; log in first "
                f"(`docker login {self.image.host}` or `cargohold login {self.image.host}`)"
            )
            raise PullError(f"{self.image}: authentication required (HTTP 401): {how}")
        code = ""
        try:
            error = response.json()["errors"][0]
            code = f"{error['code']}: {error.get('message', '')}".strip()
        except (ValueError, KeyError, IndexError, TypeError):
            code = f"HTTP {response.status_code}"
        if response.status_code == 404:
            raise PullError(f"{self.image}: no such image in the registry ({code})")
        raise PullError(f"{self.image}: the registry refused {what} ({code})")

    def copy_to(self, layout: Path) -> None:
        """Write the image into `layout` (an OCI layout); its index names it `scan`."""
        (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
        media_type, digest, size = self._manifest(layout, self.image.reference)
        descriptor = {
            "mediaType": media_type,
            "digest": digest,
            "size": size,
            "annotations": {"org.opencontainers.image.ref.name": "scan"},
        }
        (layout / "index.json").write_text(
            json.dumps({"schemaVersion": 2, "manifests": [descriptor]})
        )

    def _manifest(self, layout: Path, reference: str, depth: int = 0) -> tuple[str, str, int]:
        response = self._get(
            f"/v2/{self.image.repository}/manifests/{reference}",
            headers={"Accept": MANIFEST_ACCEPT},
        )
        body = response.content
        if len(body) > MAX_MANIFEST_BYTES:
            raise PullError(f"{self.image}: manifest {reference} is larger than 4 MiB")
        digest = compute(body)
        if is_valid_digest(reference) and reference.startswith("sha256:") and digest != reference:
            raise PullError(f"{self.image}: manifest {reference} arrived with digest {digest}")
        try:
            document = json.loads(body)
        except ValueError:
            raise PullError(f"{self.image}: manifest {reference} is not JSON") from None
        if not isinstance(document, dict):
            raise PullError(f"{self.image}: manifest {reference} is not a JSON object")
        content_type = response.headers.get("content-type", "").split(";")[0].strip()
        media_type = document.get("mediaType") or content_type
        if document.get("schemaVersion") == 1:
            raise PullError(f"{self.image}: Docker schema 1 manifests are not supported")
        self._write(layout, digest, body)
        if media_type in mediatypes.INDEXES or "manifests" in document:
            if depth > 2:
                raise PullError(f"{self.image}: indexes nested too deeply")
            for child in document.get("manifests") or []:
                if isinstance(child, dict) and not _attestation(child) and child.get("digest"):
                    self._manifest(layout, str(child["digest"]), depth + 1)
            return str(media_type or mediatypes.OCI_INDEX), digest, len(body)
        config = document.get("config") or {}
        blobs = [config, *(document.get("layers") or [])]
        for blob in blobs:
            if isinstance(blob, dict) and isinstance(blob.get("digest"), str):
                self._blob(layout, blob["digest"])
        return str(media_type or mediatypes.OCI_MANIFEST), digest, len(body)

    def _blob(self, layout: Path, digest: str) -> None:
        if not is_valid_digest(digest) or not digest.startswith("sha256:"):
            raise PullError(f"{self.image}: unsupported blob digest {digest!r}")
        target = layout / "blobs" / "sha256" / digest.split(":", 1)[1]
        if target.exists():
            return
        path = f"/v2/{self.image.repository}/blobs/{digest}"
        hasher = hashlib.sha256()
        partial = target.with_suffix(".part")
        try:
            with self.http.stream("GET", path) as response:
                if response.status_code >= 400:
                    response.read()
                    self._check(response, f"blob {digest}")
                with open(partial, "wb") as file:
                    for chunk in response.iter_bytes(CHUNK):
                        hasher.update(chunk)
                        file.write(chunk)
        except httpx.HTTPError as exc:
            raise PullError(f"{self.image}: reading blob {digest} failed: {exc}") from None
        if f"sha256:{hasher.hexdigest()}" != digest:
            raise PullError(f"{self.image}: blob {digest} arrived with another digest")
        partial.rename(target)

    @staticmethod
    def _write(layout: Path, digest: str, body: bytes) -> None:
        (layout / "blobs" / "sha256" / digest.split(":", 1)[1]).write_bytes(body)


def _basic(credential: Credential) -> str:
    pair = f"{credential.name}:{credential.secret}".encode()
    return f"Basic {base64.b64encode(pair).decode()}"


def _attestation(descriptor: dict[str, Any]) -> bool:
    annotations = descriptor.get("annotations") or {}
    platform = descriptor.get("platform") or {}
    return (
        annotations.get("vnd.docker.reference.type") == "attestation-manifest"
        or platform.get("os") == "unknown"
    )


def pull_into(image: RemoteImage, layout: Path) -> None:
    """Copy `image` into the OCI layout directory `layout`; PullError on any failure."""
    with RegistryReader(image) as reader:
        reader.copy_to(layout)
