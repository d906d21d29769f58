"""Answers given before the request body is read (refusals: 401, 403, 404) leave the connection
either open for the client's next request or closed with `Connection: close` in the answer,
never dropped without a word: a client that reuses a silently dropped connection gets no answer
to its next request at all.

The body is sent the ways clients send it: with the headers, in a write of its own after them
(httpx, Go), chunked; raw sockets, so that the body arrives after the server has answered.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest

from cargohold.api.bodyguard import DRAIN_SECONDS
from tests.support.rawhttp import connect, head, read_response, status_of
from tests.support.server import CargoholdServer

# Under the 5 s a drain waits at most, so that a test can tell which bound ended a wait.
BODY_TIMEOUT = 4
MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": "sha256:" + "0" * 64,
            "size": 2,
        },
        "layers": [],
    }
).encode()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CargoholdServer]:
    started = CargoholdServer(
        tmp_path_factory.mktemp("early") / "data",
        workers=1,
        extra_env={
            "CARGOHOLD_JOB_WORKERS": "0",
            "CARGOHOLD_BODY_READ_TIMEOUT_SECONDS": str(BODY_TIMEOUT),
        },
    ).start()
    yield started
    started.stop()


def _refusal(server: CargoholdServer, kind: str) -> tuple[str, str, dict[str, str], bytes, int]:
    """(method, path, headers, body, status) of a request refused before its body is read."""
    admin = {"Authorization": server.admin_authorization, "Content-Type": "application/json"}
    token = json.dumps({"name": "ci"}).encode()
    if kind == "anonymous manifest push":
        headers = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
        return "PUT", "/v2/early/app/manifests/v1", headers, MANIFEST, 401
    if kind == "another user's token":
        return "POST", "/api/v1/users/someone-else/tokens", admin, token, 403
    return "POST", "/api/v1/no-such-route", admin, token, 404


def _send(
    sock: socket.socket, method: str, path: str, headers: dict[str, str], body: bytes, how: str
) -> None:
    if how == "chunked":
        sock.sendall(head(method, path, {**headers, "Transfer-Encoding": "chunked"}))
        time.sleep(0.3)
        sock.sendall(f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n")
        return
    request_head = head(method, path, {**headers, "Content-Length": str(len(body))})
    if how == "with the headers":
        sock.sendall(request_head + body)
        return
    sock.sendall(request_head)
    time.sleep(0.3)
    sock.sendall(body)


def _kept(server: CargoholdServer, sock: socket.socket, answer: bytes) -> None:
    """The answer keeps its connection, and the connection answers the client's next request."""
    assert b"connection: close" not in answer.lower()
    sock.sendall(head("GET", "/v2/", {"Authorization": server.admin_authorization}))
    assert status_of(read_response(sock, timeout=10)) == 200


def _closed(sock: socket.socket) -> bool:
    sock.settimeout(10)
    try:
        return sock.recv(65536) == b""
    except ConnectionResetError:
        return True


@pytest.mark.parametrize("how", ["with the headers", "after the headers", "chunked"])
@pytest.mark.parametrize(
    "kind", ["anonymous manifest push", "another user's token", "unknown route"]
)
def test_a_small_body_refused_unread_leaves_the_connection_serving(
    server: CargoholdServer, kind: str, how: str
) -> None:
    method, path, headers, body, status = _refusal(server, kind)
    sock = connect(server.port)
    try:
        _send(sock, method, path, headers, body, how)
        refused = read_response(sock, timeout=10)
        assert status_of(refused) == status, refused[:300]
        _kept(server, sock, refused)
    finally:
        sock.close()


def _read_streamed(sock: socket.socket) -> bytes:
    """A chunked answer, to its last chunk."""
    sock.settimeout(30)
    received = b""
    while not received.endswith(b"\r\n0\r\n\r\n"):
        data = sock.recv(65536)
        assert data, received[:300]
        received += data
    return received


def test_a_streamed_answer_to_a_request_whose_body_it_does_not_read_keeps_the_connection(
    server: CargoholdServer,
) -> None:
    """A streaming answer listens for the client to go while it streams (one receive of the
    app's waiting): the body's rest comes to that receive, and the answer neither waits for it
    nor closes the connection."""
    headers = {"Authorization": server.admin_authorization, "Content-Type": "application/json"}
    sock = connect(server.port)
    try:
        started = time.monotonic()
        _send(sock, "POST", "/api/v1/gc?dryRun=true", headers, b"{}", "after the headers")
        streamed = _read_streamed(sock)
        # Not held until a drain of its own gives up (the body read timeout, 4 s here).
        assert time.monotonic() - started < BODY_TIMEOUT - 1
        assert status_of(streamed) == 200, streamed[:300]
        assert b'"event":"done"' in streamed.replace(b" ", b"")
        _kept(server, sock, streamed)
    finally:
        sock.close()


def test_a_client_waiting_to_be_asked_for_its_body_is_asked_and_the_connection_kept(
    server: CargoholdServer,
) -> None:
    """`Expect: 100-continue`: the client sends its body only when asked. A refusal that does
    not read the body asks for it all the same (it is small), so that the connection can be
    kept; a client that sends it anyway is served just as well."""
    method, path, headers, body, status = _refusal(server, "another user's token")
    sock = connect(server.port)
    try:
        expecting = {**headers, "Expect": "100-continue", "Content-Length": str(len(body))}
        sock.sendall(head(method, path, expecting))
        sock.settimeout(10)
        asked = sock.recv(65536)
        assert asked.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), asked[:300]
        sock.sendall(body)
        refused = asked.removeprefix(b"HTTP/1.1 100 Continue\r\n\r\n") + read_response(
            sock, timeout=10
        )
        assert status_of(refused) == status, refused[:300]
        _kept(server, sock, refused)
    finally:
        sock.close()


def test_a_large_body_refused_unread_is_not_waited_for_and_the_answer_says_close(
    server: CargoholdServer,
) -> None:
    sock = connect(server.port)
    try:
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(2**20)}
        started = time.monotonic()
        path = "/v2/early/app/blobs/uploads/?digest=sha256:" + "1" * 64
        sock.sendall(head("POST", path, headers) + b"x" * 65536)
        refused = read_response(sock, timeout=10)
        assert status_of(refused) == 401, refused[:300]
        assert b"connection: close" in refused.lower()
        assert _closed(sock)
        assert time.monotonic() - started < BODY_TIMEOUT
    finally:
        sock.close()


def test_a_small_body_that_stalls_is_waited_for_a_bounded_while_and_the_answer_says_close(
    server: CargoholdServer,
) -> None:
    method, path, headers, body, status = _refusal(server, "another user's token")
    sock = connect(server.port)
    try:
        started = time.monotonic()
        sock.sendall(head(method, path, {**headers, "Content-Length": "100"}) + body[:5])
        refused = read_response(sock, timeout=10 * BODY_TIMEOUT)
        assert status_of(refused) == status, refused[:300]
        assert b"connection: close" in refused.lower()
        assert _closed(sock)
        # Waited for the body read timeout (4 s here), not the 5 s a drain takes at most.
        assert BODY_TIMEOUT - 0.5 <= time.monotonic() - started < DRAIN_SECONDS
    finally:
        sock.close()
