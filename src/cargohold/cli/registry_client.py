"""A small OCI distribution client for any registry: what signing and verifying read and write.

Sign-in as docker and podman do it: the request goes out anonymously (or with Basic
credentials after a `Basic` challenge); on a `Bearer realm=...,service=...` challenge a
registry token for the repository's scope is fetched from the realm, with the credentials the
CLI's lookup finds for the server (credentials.py: `CARGOHOLD_USERNAME`/`_PASSWORD`, the
containers auth files, docker's config.json and its credential helpers). A refresh token (an
`identitytoken`) is exchanged with `grant_type=refresh_token`, a password by GET with Basic
credentials (distribution's token and OAuth specs).

It implements trust.discovery.SignatureSource; every failure is a RegistryError with a
one-line message.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Generator
from typing import Any
from urllib.parse import quote, urljoin

import httpx

from cargohold.cli.auth_files import server_host
from cargohold.cli.credentials import Credential, CredentialsUnreadable, registry_credentials
from cargohold.cli.server_auth import CLIENT_ID
from cargohold.oci.digests import compute
from cargohold.oci.mediatypes import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_INDEX,
    OCI_MANIFEST,
)
from cargohold.trust.discovery import FetchedManifest, SourceError
from cargohold.trust.signing import Blob

MANIFEST_ACCEPT = ", ".join((OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST))
# Signature manifests, payloads and bundles are small; anything larger is refused unread.
MAX_MANIFEST_BYTES = 4 << 20
MAX_BLOB_BYTES = 8 << 20
MAX_REFERRER_PAGES = 20


class RegistryError(SourceError):
    """A registry call that failed; the message says which and why, in one line."""


def _challenge(response: httpx.Response) -> tuple[str, dict[str, str]]:
    """(scheme, params) of a 401's WWW-Authenticate, the scheme lower-cased."""
    header = response.headers.get("www-authenticate", "")
    scheme, _, rest = header.partition(" ")
    params: dict[str, str] = {}
    for part in _split_params(rest):
        name, _, value = part.partition("=")
        params[name.strip().lower()] = value.strip().strip('"')
    return scheme.lower(), params


def _split_params(text: str) -> list[str]:
    """Comma-separated params, where a quoted value may hold commas (`scope="a:b:pull,push"`)."""
    parts, current, quoted = [], "", False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            parts.append(current)
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current)
    return parts


class RegistryAuth(httpx.Auth):
    """Docker's token flow for one repository (module docstring)."""

    requires_response_body = True

    def __init__(self, base: str, repository: str, actions: str) -> None:
        self.base = base
        self.scope = f"repository:{repository}:{actions}"
        self.repository = repository
        self._looked_up = False
        self._credential: Credential | None = None
        self._authorization: str | None = None

    @property
    def credential(self) -> Credential | None:
        if not self._looked_up:
            try:
                self._credential = registry_credentials(self.base, repository=self.repository)
            except CredentialsUnreadable as exc:
                raise RegistryError(str(exc)) from None
            self._looked_up = True
        return self._credential

    def _basic(self) -> str | None:
        credential = self.credential
        if credential is None:
            return None
        pair = f"{credential.name}:{credential.secret}".encode()
        return f"Basic {base64.b64encode(pair).decode()}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self._authorization:
            request.headers["Authorization"] = self._authorization
        response = yield request
        if response.status_code != 401:
            return
        scheme, params = _challenge(response)
        if scheme == "basic":
            authorization = self._basic()
        elif scheme == "bearer" and params.get("realm"):
            token_request = self._token_request(params)
            token_response = yield token_request
            authorization = self._bearer(token_response)
        else:
            return
        if authorization is None or authorization == self._authorization:
            return
        self._authorization = authorization
        request.headers["Authorization"] = authorization
        yield request

    def _token_request(self, params: dict[str, str]) -> httpx.Request:
        realm, service = params["realm"], params.get("service", "")
        scopes = [self.scope] + ([params["scope"]] if params.get("scope") else [])
        credential = self.credential
        if credential is not None and credential.identity_token:
            form = {
                "grant_type": "refresh_token",
                "refresh_token": credential.secret,
                "service": service,
                "scope": " ".join(dict.fromkeys(scopes)),
                "client_id": CLIENT_ID,
            }
            return httpx.Request("POST", realm, data=form)
        query: list[tuple[str, str]] = [("service", service)] if service else []
        query += [("scope", scope) for scope in dict.fromkeys(scopes)]
        headers = {}
        if credential is not None:
            query.append(("account", credential.name))
            headers["Authorization"] = self._basic() or ""
        return httpx.Request("GET", realm, params=query, headers=headers)

    def _bearer(self, response: httpx.Response) -> str:
        host = server_host(self.base)
        if response.status_code in (401, 403):
            credential = self.credential
            said = (
                "not signed in"
                if credential is None
                else f"the credentials from {credential.source} were not accepted"
            )
            raise RegistryError(f"{host}: {said}; run `cargohold login {host}`")
        if response.status_code != 200:
            raise RegistryError(f"{host}: the token endpoint answered HTTP {response.status_code}")
        try:
            answer = response.json()
            token = answer.get("token") or answer.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise RegistryError(f"{host}: the token endpoint gave no token")
        return f"Bearer {token}"


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

    def _fail(self, response: httpx.Response, what: str) -> RegistryError:
        if response.status_code == 401:
            return RegistryError(
                f"{self.host}/{self.repository}: {what}: not signed in; "
                f"run `cargohold login {self.host}`"
            )
        if response.status_code == 403:
            return RegistryError(
                f"{self.host}/{self.repository}: {what}: denied ({_error_text(response)})"
            )
        return RegistryError(f"{self.host}/{self.repository}: {what}: {_error_text(response)}")

    def _read(self, response: httpx.Response, limit: int, what: str) -> bytes:
        length = response.headers.get("content-length")
        if length and length.isdigit() and int(length) > limit:
            raise RegistryError(f"{self.host}/{self.repository}: {what} is over {limit} bytes")
        data = response.content
        if len(data) > limit:
            raise RegistryError(f"{self.host}/{self.repository}: {what} is over {limit} bytes")
        return data

    def resolve(self, reference: str) -> FetchedManifest:
        """The manifest a tag or digest names; an image that is not there is an error."""
        found = self.manifest(reference)
        if found is None:
            sep = "@" if ":" in reference else ":"
            raise RegistryError(f"{self.host}/{self.repository}{sep}{reference}: no such image")
        return found

    def manifest(self, reference: str) -> FetchedManifest | None:
        response = self._send("GET", self._url("manifests", reference), headers=_ACCEPT)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._fail(response, f"manifest {reference}")
        content = self._read(response, MAX_MANIFEST_BYTES, f"manifest {reference}")
        digest = compute(content)
        if ":" in reference and reference != digest:
            raise RegistryError(
                f"{self.host}/{self.repository}@{reference}: the registry sent a manifest "
                f"whose digest is {digest}"
            )
        try:
            document = json.loads(content)
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise RegistryError(f"{self.host}/{self.repository}: manifest {reference} is not JSON")
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
