"""The benchmark's own HTTP/1.1 clients: the same code drives every server.

- `AsyncConn`: a minimal keep-alive client on asyncio streams (uvloop when available).
  httpx costs ~10x more client CPU per request, which on a 2-core machine would make the
  client, not the server, the bottleneck of the small-image push.
- `SyncConn`: a blocking client whose request bodies go out with `socket.sendfile`
  (zero-copy from the page cache, like `curl -T`), for the big pushes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from access_setup import ANONYMOUS, Login, basic_header

IO_TIMEOUT = 120.0
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


class BenchHTTPError(RuntimeError):
    pass


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


def _request_head(
    method: str, path: str, host: str, headers: dict[str, str] | None, n: int
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    if n or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {n}")
    for key, value in (headers or {}).items():
        lines.append(f"{key}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _parse_head(raw: bytes) -> tuple[int, dict[str, str]]:
    lines = raw.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
    return status, headers


def path_of(location: str) -> str:
    """A Location header (absolute, as distribution sends it, or relative) as a request path."""
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def with_digest(location: str, digest: str) -> str:
    path = path_of(location)
    return path + ("&" if "?" in path else "?") + "digest=" + digest


class AsyncConn:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None

    async def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
    ) -> Response:
        return await asyncio.wait_for(self._request(method, path, headers, body), IO_TIMEOUT)

    async def _request(
        self, method: str, path: str, headers: dict[str, str] | None, body: bytes
    ) -> Response:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None and self.writer is not None
        head = _request_head(method, path, f"{self.host}:{self.port}", headers, len(body))
        self.writer.write(head + body if len(body) < 65536 else head)
        if len(body) >= 65536:
            self.writer.write(body)
        await self.writer.drain()
        status, rheaders = _parse_head(await self.reader.readuntil(b"\r\n\r\n"))
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            data = b""
        elif rheaders.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")  # no trailers expected
                    break
                parts.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
            data = b"".join(parts)
        elif "content-length" in rheaders:
            data = await self.reader.readexactly(int(rheaders["content-length"]))
        else:
            data = await self.reader.read()
            rheaders["connection"] = "close"
        if rheaders.get("connection", "").lower() == "close":
            await self.close()
        return Response(status, rheaders, data)


class SyncConn:
    """Blocking keep-alive connection; bodies are sent from files with sendfile."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.sock: socket.socket | None = None
        self._buf = b""

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock = None
        self._buf = b""

    def __enter__(self) -> SyncConn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _recv_until(self, marker: bytes) -> bytes:
        assert self.sock is not None
        while marker not in self._buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise BenchHTTPError("connection closed by server")
            self._buf += chunk
        head, _, self._buf = self._buf.partition(marker)
        return head

    def _recv_exactly(self, n: int) -> bytes:
        assert self.sock is not None
        while len(self._buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self._buf)))
            if not chunk:
                raise BenchHTTPError("connection closed by server")
            self._buf += chunk
        data, self._buf = self._buf[:n], self._buf[n:]
        return data

    def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        file: Path | None = None,
        offset: int = 0,
        count: int = 0,
    ) -> Response:
        if self.sock is None:
            self.sock = socket.create_connection((self.host, self.port), timeout=IO_TIMEOUT)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        n = count if file is not None else len(body)
        self.sock.sendall(_request_head(method, path, f"{self.host}:{self.port}", headers, n))
        if file is not None:
            with open(file, "rb") as f:
                sent = self.sock.sendfile(f, offset, count)
            if sent != count:
                raise BenchHTTPError(f"sent {sent} of {count} bytes")
        elif body:
            self.sock.sendall(body)
        status, rheaders = _parse_head(self._recv_until(b"\r\n\r\n"))
        data = b""
        if method != "HEAD" and status not in (204, 304):
            if rheaders.get("transfer-encoding", "").lower() == "chunked":
                parts = []
                while True:
                    size = int(self._recv_until(b"\r\n").split(b";")[0], 16)
                    if size == 0:
                        self._recv_until(b"\r\n")
                        break
                    parts.append(self._recv_exactly(size))
                    self._recv_exactly(2)
                data = b"".join(parts)
            else:
                data = self._recv_exactly(int(rheaders.get("content-length", "0")))
        if rheaders.get("connection", "").lower() == "close":
            self.close()
        return Response(status, rheaders, data)


def expect(resp: Response, status: int, what: str) -> Response:
    if resp.status != status:
        raise BenchHTTPError(f"{what}: HTTP {resp.status} (wanted {status}): {resp.body[:300]!r}")
    return resp


# --- signing in --------------------------------------------------------------------------

CATALOG_SCOPE = "registry:catalog:*"
# A token is fetched again this long before it expires (docker renews it on a 401 instead):
# a token of the default 300 s is reused for at most 180 s, so no single use outlives it.
TOKEN_MARGIN_SECONDS = 120.0


def repo_scope(repo: str, actions: str = "pull") -> str:
    return f"repository:{repo}:{actions}"


def _token_request(login: Login, scope: str) -> tuple[str, dict[str, str]]:
    """The token endpoint's path and headers for a scope (no name: an anonymous token)."""
    path = "/auth/token?" + urlencode({"service": login.service, "scope": scope})
    return path, basic_header(login.name, login.secret) if login.name else {}


def _bearer(resp: Response) -> tuple[dict[str, str], float]:
    doc = json.loads(expect(resp, 200, "token request").body)
    return {"Authorization": f"Bearer {doc['token']}"}, float(doc.get("expires_in", 60))


async def sign_in_async(conn: AsyncConn, login: Login, scope: str) -> dict[str, str]:
    """The headers that sign a request in: for the token flow, one GET /auth/token on `conn`."""
    if login.kind == "none":
        return {}
    if login.kind == "basic":
        return basic_header(login.name, login.secret)
    path, headers = _token_request(login, scope)
    return _bearer(await conn.request("GET", path, headers))[0]


class Credentials:
    """What a synchronous client sends to one server for a scope: registry tokens are kept and
    reused until shortly before they expire, as docker reuses one for a whole pull or push."""

    def __init__(self, port: int, login: Login) -> None:
        self.port, self.login = port, login
        self._tokens: dict[str, tuple[dict[str, str], float]] = {}

    def headers(self, scope: str) -> dict[str, str]:
        return self.headers_many([scope])[0]

    def headers_many(self, scopes: list[str]) -> list[dict[str, str]]:
        """One set of headers per scope; missing or stale tokens are fetched on one connection."""
        if self.login.kind == "none":
            return [{} for _ in scopes]
        if self.login.kind == "basic":
            return [basic_header(self.login.name, self.login.secret) for _ in scopes]
        now = time.monotonic()
        stale = [s for s in dict.fromkeys(scopes) if self._tokens.get(s, ({}, 0.0))[1] <= now]
        if stale:
            with SyncConn("127.0.0.1", self.port) as conn:
                for scope in stale:
                    path, headers = _token_request(self.login, scope)
                    bearer, lifetime = _bearer(conn.request("GET", path, headers))
                    expires = time.monotonic() + lifetime - TOKEN_MARGIN_SECONDS
                    self._tokens[scope] = (bearer, expires)
        return [self._tokens[s][0] for s in scopes]


# --- blob pushes -------------------------------------------------------------------------


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def start_upload(conn: SyncConn, repo: str, auth: dict[str, str] | None = None) -> str:
    resp = expect(conn.request("POST", f"/v2/{repo}/blobs/uploads/", auth), 202, "start upload")
    return resp.headers["location"]


def curl_headers(auth: dict[str, str] | None) -> list[str]:
    return [arg for key, value in (auth or {}).items() for arg in ("-H", f"{key}: {value}")]


def push_monolithic_curl(
    port: int, repo: str, path: Path, digest: str, auth: dict[str, str] | None = None
) -> None:
    """POST for a session, then one `curl -T` PUT ?digest= with the whole file."""
    with SyncConn("127.0.0.1", port) as conn:
        location = start_upload(conn, repo, auth)
    url = f"http://127.0.0.1:{port}{with_digest(location, digest)}"
    out = subprocess.run(
        [
            "curl",
            "-sS",
            "--max-time",
            "300",
            *curl_headers(auth),
            "-H",
            "Expect:",  # no 100-continue round trip: registry clients do not send it
            "-H",
            "Content-Type: application/octet-stream",
            "-T",
            str(path),
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=330,
    )
    if out.stdout.strip() != "201":
        raise BenchHTTPError(f"curl -T push: HTTP {out.stdout.strip()} {out.stderr.strip()}")


def push_monolithic_sendfile(
    port: int, repo: str, path: Path, digest: str, auth: dict[str, str] | None = None
) -> None:
    """POST for a session, then one PUT ?digest= whose body goes out with sendfile."""
    size = path.stat().st_size
    with SyncConn("127.0.0.1", port) as conn:
        location = start_upload(conn, repo, auth)
        headers = {"Content-Type": "application/octet-stream", **(auth or {})}
        resp = conn.request(
            "PUT", with_digest(location, digest), headers, file=path, offset=0, count=size
        )
        expect(resp, 201, "monolithic PUT")


def push_chunked(
    port: int,
    repo: str,
    path: Path,
    digest: str,
    chunk: int,
    auth: dict[str, str] | None = None,
) -> None:
    """POST, PATCH `chunk`-sized pieces (Content-Range start-end), then PUT ?digest=."""
    size = path.stat().st_size
    with SyncConn("127.0.0.1", port) as conn:
        location = start_upload(conn, repo, auth)
        offset = 0
        while offset < size:
            count = min(chunk, size - offset)
            headers = {
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{offset}-{offset + count - 1}",
                **(auth or {}),
            }
            resp = conn.request(
                "PATCH", path_of(location), headers, file=path, offset=offset, count=count
            )
            location = expect(resp, 202, "PATCH chunk").headers["location"]
            offset += count
        expect(conn.request("PUT", with_digest(location, digest), auth), 201, "closing PUT")


# --- small images ------------------------------------------------------------------------


@dataclass
class SmallImage:
    repo: str
    tag: str
    config: bytes
    config_digest: str
    layer: bytes
    layer_digest: str
    manifest: bytes


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def make_small_image(repo: str, tag: str, seed: str, layer_size: int = 2048) -> SmallImage:
    layer = hashlib.sha256(seed.encode()).digest() + os.urandom(layer_size - 32)
    layer_digest = _sha(layer)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Labels": {"bench.seed": seed}},
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        },
        separators=(",", ":"),
    ).encode()
    config_digest = _sha(config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": layer_digest, "size": len(layer)}],
            "annotations": {"bench.seed": seed},
        },
        separators=(",", ":"),
    ).encode()
    return SmallImage(repo, tag, config, config_digest, layer, layer_digest, manifest)


async def push_small_image(
    conn: AsyncConn, image: SmallImage, login: Login = ANONYMOUS, patch: bool = False
) -> None:
    """What a registry client does: sign in for the repository (the token flow: one token
    request per image pushed, as each `docker push` gets its own), HEAD each blob, upload the
    missing ones, PUT the manifest. A blob goes as POST then PUT with the body (the OCI
    spec's monolithic upload, what containerd and crane send) or, with `patch`, as docker,
    podman and skopeo send it: POST, one PATCH with the body, then a PUT without one."""
    auth = await sign_in_async(conn, login, repo_scope(image.repo, "pull,push"))
    for data, digest in ((image.config, image.config_digest), (image.layer, image.layer_digest)):
        head = await conn.request("HEAD", f"/v2/{image.repo}/blobs/{digest}", auth)
        if head.status == 200:
            continue
        if head.status != 404:
            raise BenchHTTPError(f"blob HEAD: HTTP {head.status}")
        start = await conn.request("POST", f"/v2/{image.repo}/blobs/uploads/", auth)
        expect(start, 202, "start upload")
        location, body = start.headers["location"], data
        if patch:
            sent = await conn.request(
                "PATCH",
                path_of(location),
                {"Content-Type": "application/octet-stream", **auth},
                data,
            )
            location, body = expect(sent, 202, "blob PATCH").headers["location"], b""
        put = await conn.request(
            "PUT",
            with_digest(location, digest),
            {"Content-Type": "application/octet-stream", **auth},
            body,
        )
        expect(put, 201, "blob PUT")
    await put_manifest(conn, image.repo, image.tag, image.manifest, auth)


async def put_manifest(
    conn: AsyncConn, repo: str, tag: str, manifest: bytes, auth: dict[str, str]
) -> None:
    put = await conn.request(
        "PUT", f"/v2/{repo}/manifests/{tag}", {"Content-Type": OCI_MANIFEST, **auth}, manifest
    )
    expect(put, 201, "manifest PUT")


async def run_pool(port: int, jobs: list, concurrency: int, fn, timeout: float) -> float:  # type: ignore[no-untyped-def]
    """Run `fn(conn, job)` over `jobs` with `concurrency` keep-alive connections; wall seconds."""
    queue: asyncio.Queue = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)

    async def worker() -> None:
        conn = AsyncConn("127.0.0.1", port)
        try:
            while True:
                try:
                    job = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                await fn(conn, job)
        finally:
            await conn.close()

    started = time.perf_counter()
    tasks = [asyncio.ensure_future(worker()) for _ in range(concurrency)]
    try:
        await asyncio.wait_for(asyncio.gather(*tasks), timeout)
    finally:
        for task in tasks:
            task.cancel()
    return time.perf_counter() - started


def new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop is a cargohold dependency
        return asyncio.new_event_loop()
