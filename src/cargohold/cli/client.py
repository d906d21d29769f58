"""A small client of the admin API, shared by the CLI's remote commands."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from cargohold.oci.mediatypes import MANIFEST_ACCEPT

if TYPE_CHECKING:
    import httpx

    from cargohold.cli.server_auth import ServerAuth

# httpx is imported when a client is made, not with this module: every command module imports
# ClientError, and `cargohold --help` or a local scan should not pay for an HTTP stack.

DEFAULT_REGISTRY = "http://127.0.0.1:5000"
# The message of the access check's 403 (a policy's 403 says why instead).
ACCESS_DENIED = "requested access to the resource is denied"
# The largest page of the audit log the server hands out.
AUDIT_PAGE = 1000


class ClientError(Exception):
    """A one-line, human-readable failure of a remote call; `code` is the API's error code."""

    def __init__(self, message: str, code: str | None = None, detail: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.detail = detail


def base_url(registry: str) -> str:
    """The server's URL without a trailing slash; a bare HOST:PORT is plain HTTP."""
    return (registry if "://" in registry else f"http://{registry}").rstrip("/")


class AdminClient:
    def __init__(self, registry: str, timeout: float = 30.0) -> None:
        import httpx

        self.base = base_url(registry)
        # Plain HTTP never does TLS (redirects are not followed), so skip loading the CA bundle:
        # a third of a short command's start-up.
        plain = self.base.startswith("http://")
        from cargohold.cli.server_auth import ServerAuth

        self._auth: ServerAuth = ServerAuth(self.base)
        self._http = httpx.Client(
            base_url=self.base, timeout=timeout, verify=not plain, auth=self._auth
        )

    def _get(self, path: str, params: dict[str, Any] | None = None) -> httpx.Response:
        return self._request("GET", path, params=params)

    def _request(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        response = self._send(method, path, params=params, content=content, headers=headers)
        if response.status_code >= 400:
            self._raise_for(response, path)
        return response

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request; only a failure to reach the server raises."""
        import httpx

        try:
            return self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ClientError(f"cannot reach {self.base}: {exc}") from None

    def _raise_for(self, response: httpx.Response, path: str) -> None:
        if response.status_code in (401, 403):
            self._raise_refused(response, path)
        if response.status_code >= 400:
            code = detail = None
            try:
                error = response.json()["errors"][0]
                code = str(error["code"])
                detail = error.get("detail")
                message = f"{error['code']}: {error['message']}"
                problems = (error.get("detail") or {}).get("problems")
                if isinstance(problems, list) and len(problems) > 1:
                    message = f"{error['code']}: " + "; ".join(map(str, problems))
            except (ValueError, KeyError, IndexError, TypeError, AttributeError):
                message = f"HTTP {response.status_code}"
            raise ClientError(f"{self.base}{path}: {message}", code, detail)

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        """One admin API call with a JSON body (or none); its JSON answer, None for a 204."""
        content = None if body is None else json.dumps(body).encode()
        headers = None if body is None else {"Content-Type": "application/json"}
        response = self._request(method, path, params=params, content=content, headers=headers)
        return None if response.status_code == 204 else response.json()

    def _raise_refused(self, response: httpx.Response, path: str) -> None:
        """A 401 or a 403 of the access check, told as what to do about it (a 403 of a
        policy, such as an immutable tag, keeps the server's words)."""
        from cargohold.cli.server_auth import login_hint

        try:
            error = response.json()["errors"][0]
            code, message = str(error["code"]), str(error["message"])
        except (ValueError, KeyError, IndexError, TypeError):
            code, message = "", ""
        credential = self._auth.credential
        hint = login_hint(self.base)
        if response.status_code == 401:
            if credential is None:
                said = "not signed in"
            elif credential.identity_token:
                # A saved sign-in ends when its refresh token expires or is revoked.
                said = f"the saved sign-in ({credential.source}) has expired or was revoked"
            else:
                said = f"the credentials from {credential.source} were not accepted"
            raise ClientError(f"{self.base}{path}: {said}; {hint}", code or "UNAUTHORIZED")
        if code and message != ACCESS_DENIED:
            return
        who = f"the account {credential.name!r}" if credential and credential.name else "you"
        raise ClientError(f"{self.base}{path}: DENIED: {who} may not do this", "DENIED")

    def system(self) -> dict[str, Any]:
        return self._get("/api/v1/system").json()  # type: ignore[no-any-return]

    def repositories(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        params: dict[str, Any] = {"n": 1000}
        while True:
            response = self._get("/api/v1/repositories", params)
            rows.extend(response.json()["repositories"])
            if "link" not in response.headers or not rows:
                return rows
            params = {"n": 1000, "last": rows[-1]["name"]}

    def _lifecycle(self, repository: str, suffix: str = "") -> str:
        return f"/api/v1/repositories/{quote(repository, safe='/')}/lifecycle{suffix}"

    def lifecycle_preview(self, repository: str, policy: bytes | None) -> dict[str, Any]:
        """Preview `policy`, or the stored policy when it is None."""
        path = self._lifecycle(repository, "/preview")
        return self._request("POST", path, content=policy or b"").json()  # type: ignore[no-any-return]

    def lifecycle_set(self, repository: str, policy: bytes) -> dict[str, Any]:
        return self._request("PUT", self._lifecycle(repository), content=policy).json()  # type: ignore[no-any-return]

    def lifecycle_get(self, repository: str) -> dict[str, Any]:
        return self._get(self._lifecycle(repository)).json()  # type: ignore[no-any-return]

    def lifecycle_remove(self, repository: str) -> None:
        self._request("DELETE", self._lifecycle(repository))

    def lifecycle_apply(self, repository: str) -> dict[str, Any]:
        return self._request("POST", self._lifecycle(repository, "/apply")).json()  # type: ignore[no-any-return]

    def tag_rules(self) -> list[dict[str, Any]]:
        return self._get("/api/v1/tag-rules").json()["rules"]  # type: ignore[no-any-return]

    def add_tag_rule(self, rule: dict[str, Any]) -> dict[str, Any]:
        response = self._request("POST", "/api/v1/tag-rules", content=json.dumps(rule).encode())
        return response.json()  # type: ignore[no-any-return]

    def remove_tag_rule(self, rule_id: int) -> None:
        self._request("DELETE", f"/api/v1/tag-rules/{rule_id}")

    def holds(self) -> list[dict[str, Any]]:
        return self._get("/api/v1/holds").json()["holds"]  # type: ignore[no-any-return]

    def add_hold(self, hold: dict[str, Any]) -> dict[str, Any]:
        response = self._request("POST", "/api/v1/holds", content=json.dumps(hold).encode())
        return response.json()  # type: ignore[no-any-return]

    def release_hold(self, hold_id: int) -> None:
        self._request("DELETE", f"/api/v1/holds/{hold_id}")

    def gc(self, dry_run: bool, untagged: bool = False) -> Iterator[dict[str, Any]]:
        """Run garbage collection; yields its progress events as they arrive."""
        params = {"dryRun": str(dry_run).lower(), "untagged": str(untagged).lower()}
        return self._events("/api/v1/gc", params)

    def fsck(self, repair: bool, verify_content: bool) -> Iterator[dict[str, Any]]:
        """Check (and with `repair`, fix) metadata against stored bytes; yields its events."""
        params = {"repair": str(repair).lower(), "verifyContent": str(verify_content).lower()}
        return self._events("/api/v1/fsck", params)

    def _events(self, path: str, params: dict[str, str]) -> Iterator[dict[str, Any]]:
        """POST to a route that streams NDJSON events; yields them as they arrive."""
        import httpx

        try:
            with self._http.stream("POST", path, params=params, timeout=None) as response:
                if response.status_code >= 400:
                    response.read()
                    self._raise_for(response, path)
                for line in response.iter_lines():
                    if line.strip():
                        yield json.loads(line)
        except httpx.HTTPError as exc:
            raise ClientError(f"cannot reach {self.base}: {exc}") from None

    def quota(self, project: str) -> dict[str, Any]:
        return self._get(f"/api/v1/projects/{quote(project, safe='')}/quota").json()  # type: ignore[no-any-return]

    def set_quota(self, project: str, limit: int) -> dict[str, Any]:
        body = json.dumps({"limitBytes": limit}).encode()
        path = f"/api/v1/projects/{quote(project, safe='')}/quota"
        return self._request("PUT", path, content=body).json()  # type: ignore[no-any-return]

    def remove_quota(self, project: str) -> None:
        self._request("DELETE", f"/api/v1/projects/{quote(project, safe='')}/quota")

    def storage(self) -> dict[str, Any]:
        return self._get("/api/v1/storage").json()  # type: ignore[no-any-return]

    def audit(self, filters: dict[str, str], limit: int | None) -> Iterator[dict[str, Any]]:
        """Audit entries newest first, following the pages' cursors until `limit` (None:
        every matching entry)."""
        cursor: str | None = None
        left = limit
        while left is None or left > 0:
            size = AUDIT_PAGE if left is None else min(left, AUDIT_PAGE)
            params = {**filters, "limit": size, **({"cursor": cursor} if cursor else {})}
            page = self._get("/api/v1/audit", params).json()
            yield from page["events"]
            if left is not None:
                left -= len(page["events"])
            cursor = page["next"]
            if cursor is None:
                return

    def audit_lines(self, filters: dict[str, str], limit: int | None) -> Iterator[str]:
        """The JSON lines export, line by line as the server streams it."""
        import httpx

        params = {**filters, "format": "jsonl", **({"limit": limit} if limit else {})}
        try:
            with self._http.stream("GET", "/api/v1/audit", params=params, timeout=None) as got:
                if got.status_code >= 400:
                    got.read()
                    self._raise_for(got, "/api/v1/audit")
                for line in got.iter_lines():
                    if line:
                        yield line
        except httpx.HTTPError as exc:
            raise ClientError(f"cannot reach {self.base}: {exc}") from None

    # -- the registry API (/v2/) ---------------------------------------------------------

    def _manifest_path(self, repository: str, reference: str) -> str:
        return f"/v2/{quote(repository, safe='/')}/manifests/{quote(reference, safe=':')}"

    def manifest_digest(self, repository: str, reference: str) -> str:
        """The digest a tag (or digest) names, by HEAD: no pull is counted, no gate applies."""
        path = self._manifest_path(repository, reference)
        response = self._send("HEAD", path, headers={"Accept": MANIFEST_ACCEPT})
        if response.status_code == 404:  # a HEAD answer has no body to name the error
            sep = "@" if ":" in reference else ":"  # a tag has no colon, a digest has one
            raise ClientError(
                f"{repository}{sep}{reference}: no such image on {self.base}", "MANIFEST_UNKNOWN"
            )
        if response.status_code >= 400:
            self._raise_for(response, path)
        return response.headers["Docker-Content-Digest"]

    def delete_manifest(self, repository: str, reference: str) -> None:
        """DELETE /v2/<name>/manifests/<reference>: by tag the tag, by digest the image."""
        self._request("DELETE", self._manifest_path(repository, reference))

    def tags(self, repository: str) -> list[dict[str, Any]]:
        path = f"/api/v1/repositories/{quote(repository, safe='/')}/tags"
        return self._get(path).json()["tags"]  # type: ignore[no-any-return]

    def jobs(self, limit: int, kind: str | None, state: str | None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"n": limit}
        params.update({k: v for k, v in (("kind", kind), ("state", state)) if v})
        return self._get("/api/v1/jobs", params).json()["jobs"]  # type: ignore[no-any-return]

    def job(self, job_id: str) -> dict[str, Any]:
        return self._get(f"/api/v1/jobs/{quote(job_id, safe='')}").json()  # type: ignore[no-any-return]

    def wait_for_job(self, job: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Poll a job until it succeeded or failed, or `timeout` passed: its last state."""
        deadline = time.monotonic() + timeout
        while job["state"] not in ("succeeded", "failed") and time.monotonic() < deadline:
            time.sleep(0.2)
            job = self.job(job["id"])
        return job

    def submit_job(self, kind: str, args: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps({"kind": kind, "args": args}).encode()
        return self._request("POST", "/api/v1/jobs", content=body).json()  # type: ignore[no-any-return]

    # -- scanning -------------------------------------------------------------------------

    def _image_path(self, repository: str, reference: str, what: str) -> str:
        return (
            f"/api/v1/repositories/{quote(repository, safe='/')}/manifests/"
            f"{quote(reference, safe=':')}/{what}"
        )

    def _scan_path(self, repository: str, reference: str) -> str:
        return self._image_path(repository, reference, "scan")

    def image_analysis(self, repository: str, reference: str) -> bytes:
        """The server's analysis of an image (api/analysis.py), as the JSON it sent."""
        return self._get(self._image_path(repository, reference, "analysis")).content

    def scan_result(self, repository: str, reference: str) -> dict[str, Any]:
        return self._get(self._scan_path(repository, reference)).json()  # type: ignore[no-any-return]

    def scan_now(self, repository: str, reference: str, rescan: bool = False) -> dict[str, Any]:
        path = self._scan_path(repository, reference)
        params = {"rescan": "true"} if rescan else None
        return self._request("POST", path, params=params).json()  # type: ignore[no-any-return]

    def vulndb_status(self) -> dict[str, Any]:
        return self._get("/api/v1/vulndb").json()  # type: ignore[no-any-return]

    def vulndb_import(
        self,
        body: bytes,
        name: str | None,
        location: str,
        full: bool | None,
        allow_empty: bool = False,
    ) -> dict[str, Any]:
        params = {"location": location} | ({"name": name} if name else {})
        if full is not None:
            params["full"] = str(full).lower()
        if allow_empty:
            params["allowEmpty"] = "true"
        import httpx

        try:
            response = self._http.post(
                "/api/v1/vulndb/import", params=params, content=body, timeout=None
            )
        except httpx.HTTPError as exc:
            raise ClientError(f"cannot reach {self.base}: {exc}") from None
        self._raise_for(response, "/api/v1/vulndb/import")
        return response.json()  # type: ignore[no-any-return]

    def scan_policy(self, project: str) -> dict[str, Any]:
        return self._get(f"/api/v1/projects/{quote(project, safe='')}/scan-policy").json()  # type: ignore[no-any-return]

    def set_scan_policy(self, project: str, policy: dict[str, Any]) -> dict[str, Any]:
        path = f"/api/v1/projects/{quote(project, safe='')}/scan-policy"
        return self._request("PUT", path, content=json.dumps(policy).encode()).json()  # type: ignore[no-any-return]

    def remove_scan_policy(self, project: str) -> None:
        self._request("DELETE", f"/api/v1/projects/{quote(project, safe='')}/scan-policy")

    def scan_policies(self) -> list[dict[str, Any]]:
        return self._get("/api/v1/scan-policies").json()["policies"]  # type: ignore[no-any-return]

    def allowlist(self, project: str | None) -> list[dict[str, Any]]:
        params = {"project": project} if project else None
        return self._get("/api/v1/cve-allowlist", params).json()["entries"]  # type: ignore[no-any-return]

    def allow(self, entry: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(entry).encode()
        return self._request("POST", "/api/v1/cve-allowlist", content=body).json()  # type: ignore[no-any-return]

    def disallow(self, entry_id: int) -> None:
        self._request("DELETE", f"/api/v1/cve-allowlist/{entry_id}")

    def overdue(self, project: str | None, at: str | None) -> dict[str, Any]:
        """`at`: RFC 3339 (or UNIX seconds), as the server reads `?at=`."""
        params: dict[str, Any] = {}
        if project:
            params["project"] = project
        if at is not None:
            params["at"] = at
        return self._get("/api/v1/vulnerabilities/overdue", params).json()  # type: ignore[no-any-return]

    # -- signature enforcement (cli/trust_keys_cmd.py) ------------------------------------

    def trust_policy(self, project: str) -> dict[str, Any]:
        return self._get(f"/api/v1/projects/{quote(project, safe='')}/trust").json()  # type: ignore[no-any-return]

    def set_trust_enforcement(self, project: str, enforce: bool) -> dict[str, Any]:
        path = f"/api/v1/projects/{quote(project, safe='')}/trust"
        body = json.dumps({"enforce": enforce}).encode()
        return self._request("PUT", path, content=body).json()  # type: ignore[no-any-return]

    def add_trusted_key(self, project: str, pem: str) -> dict[str, Any]:
        path = f"/api/v1/projects/{quote(project, safe='')}/trust/keys"
        body = json.dumps({"pem": pem}).encode()
        return self._request("POST", path, content=body).json()  # type: ignore[no-any-return]

    def remove_trusted_key(self, project: str, fingerprint: str) -> None:
        path = f"/api/v1/projects/{quote(project, safe='')}/trust/keys/{quote(fingerprint)}"
        self._request("DELETE", path)

    # -- the admission webhook's records (cli/where_cmd.py) -------------------------------

    def admissions(self, repository: str, reference: str) -> dict[str, Any]:
        path = f"/api/v1/repositories/{repository}/admissions"
        return self._get(path, {"reference": reference}).json()  # type: ignore[no-any-return]
