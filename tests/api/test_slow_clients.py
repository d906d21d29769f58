"""Slow clients: headers that stall are cut after `header_read_timeout_seconds`, bodies that
stall after `body_read_timeout_seconds`, one address cannot hold more than
`max_uploads_per_client` bodies in flight, and while hundreds of slow connections are open
other clients keep being served.

Slow clients connect from other loopback addresses (127.0.0.2, 127.0.0.3) than the well-behaved
client (127.0.0.1): the cap is per client address.
"""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.api.helpers import assert_error, start_upload
from tests.support.oci import digest_of, push_image
from tests.support.rawhttp import (
    connect,
    head,
    open_files_limit,
    read_response,
    status_of,
)
from tests.support.server import CargoholdServer

KIB = 1024
# Connections one worker serves at once in the crowded server; the slow clients open far more.
SLOTS = 64
CROWD_CAP = 8
STALL_TIMEOUT = 2
STALL_CAP = 4
# Generous bounds: other clients are served in well under a second when nothing stalls them;
# without the guard they wait until the slow clients hang up (here, never).
LATENCY_BOUND = 10.0


def _server(tmp: pytest.TempPathFactory, name: str, **settings: object) -> CargoholdServer:
    env = {f"CARGOHOLD_{key.upper()}": str(value) for key, value in settings.items()}
    env["CARGOHOLD_JOB_WORKERS"] = "0"
    return CargoholdServer(tmp.mktemp(name) / "data", workers=1, extra_env=env).start()


@pytest.fixture(scope="module")
def crowded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CargoholdServer]:
    server = _server(
        tmp_path_factory,
        "crowded",
        max_client_connections=SLOTS,
        max_uploads_per_client=CROWD_CAP,
        body_read_timeout_seconds=120,
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stalling(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CargoholdServer]:
    server = _server(
        tmp_path_factory,
        "stalling",
        max_uploads_per_client=STALL_CAP,
        body_read_timeout_seconds=STALL_TIMEOUT,
        header_read_timeout_seconds=STALL_TIMEOUT,
    )
    yield server
    server.stop()


def _slow_upload(
    server: CargoholdServer, source: str, n: int, chunked: bool = False
) -> socket.socket | None:
    """Headers and the first KiB of a 10 MiB blob, then nothing; None if it could not connect."""
    try:
        sock = connect(server.port, source)
    except OSError:
        return None
    digest = "sha256:" + f"{n:064x}"
    headers = {
        "Authorization": server.admin_authorization,
        "Content-Type": "application/octet-stream",
    }
    if chunked:
        headers["Transfer-Encoding"] = "chunked"
        body = f"{KIB:x}\r\n".encode() + b"s" * KIB + b"\r\n"
    else:
        headers["Content-Length"] = str(10 * 1024 * KIB)
        body = b"s" * KIB
    try:
        sock.sendall(head("POST", f"/v2/slow/blobs/uploads/?digest={digest}", headers) + body)
    except OSError:
        sock.close()
        return None
    return sock


def _answered(
    socks: list[socket.socket], wait: float, unanswered: int = 0
) -> dict[socket.socket, bytes]:
    """The sockets among `socks` the server answered, with the answer: waits `wait` seconds at
    most, less once no more than `unanswered` sockets are left."""
    answers: dict[socket.socket, bytes] = {}
    deadline = time.monotonic() + wait
    pending = list(socks)
    while len(pending) > unanswered and time.monotonic() < deadline:
        readable, _, _ = select.select(pending, [], [], 0.5)
        for sock in readable:
            answers[sock] = read_response(sock, timeout=2)
            pending.remove(sock)
    return answers


def _error_code(response: bytes) -> str:
    return str(json.loads(response.split(b"\r\n\r\n", 1)[1])["errors"][0]["code"])


def test_slow_bodies_from_one_address_do_not_stall_other_clients(
    crowded: CargoholdServer,
) -> None:
    # Two descriptors per slow connection on this side and about two on the server's.
    count = min(400, open_files_limit() // 5)
    if count <= 2 * SLOTS:
        pytest.skip(f"the open files limit allows only {count} slow connections")
    socks = [
        s
        for n in range(count)
        if (s := _slow_upload(crowded, "127.0.0.2", n, chunked=n % 3 == 0)) is not None
    ]
    try:
        assert len(socks) > 2 * SLOTS
        answers = _answered(socks, wait=30, unanswered=CROWD_CAP)
        # All but the few the cap lets in are turned away at once, and told when to come back.
        held = [s for s in socks if s not in answers]
        assert len(held) <= CROWD_CAP, f"{len(held)} slow bodies still held"
        refused = [r for r in answers.values() if status_of(r) == 429]
        assert len(refused) >= len(socks) - CROWD_CAP - 5, [r[:200] for r in answers.values()][:3]
        assert _error_code(refused[0]) == "TOOMANYREQUESTS"
        assert b"retry-after: " in refused[0].lower()

        # While the held ones stay open, everyone else is served as usual.
        started = time.monotonic()
        with httpx.Client(
            base_url=crowded.url, auth=crowded.admin_auth, timeout=LATENCY_BOUND
        ) as client:
            assert client.get("/v2/").status_code == 200
            push_image(client, "crowd/app", "v1", layers=[b"small layer" * 100])
            assert client.get("/v2/crowd/app/manifests/v1").status_code == 200
        assert time.monotonic() - started < LATENCY_BOUND
    finally:
        for sock in socks:
            sock.close()


def test_a_stalled_chunk_is_cut_and_the_upload_keeps_its_earlier_chunks(
    stalling: CargoholdServer,
) -> None:
    first, rest = b"a" * (100 * KIB), b"b" * (300 * KIB)
    with httpx.Client(base_url=stalling.url, auth=stalling.admin_auth, timeout=30) as client:
        location = start_upload(client, "stall/app")
        response = client.patch(location, content=first)
        assert response.status_code == 202, response.text
        assert response.headers["Range"] == f"0-{len(first) - 1}"

        for chunked in (False, True):
            sock = connect(stalling.port, "127.0.0.3")
            try:
                headers = {
                    "Authorization": stalling.admin_authorization,
                    "Content-Type": "application/octet-stream",
                }
                if chunked:
                    headers["Transfer-Encoding"] = "chunked"
                    body = f"{len(rest) // 2:x}\r\n".encode() + rest[: len(rest) // 2] + b"\r\n"
                else:
                    headers["Content-Length"] = str(len(rest))
                    body = rest[: len(rest) // 2]
                sock.sendall(head("PATCH", location, headers) + body)
                # The server gives up on the body, answers, and closes the connection.
                response_bytes = read_response(sock, timeout=10 * STALL_TIMEOUT)
            finally:
                sock.close()
            assert status_of(response_bytes) == 408, response_bytes[:300]
            assert _error_code(response_bytes) == "SIZE_INVALID"
            assert b"connection: close" in response_bytes.lower()

            # Half a chunk is not kept: the upload still holds only the first chunk.
            status = client.get(location)
            assert status.status_code == 204
            assert status.headers["Range"] == f"0-{len(first) - 1}"

        # The client can go on where the upload stands.
        response = client.patch(location, content=rest)
        assert response.status_code == 202, response.text
        digest = digest_of(first + rest)
        response = client.put(response.headers["Location"], params={"digest": digest})
        assert response.status_code == 201, response.text
        assert client.get(f"/v2/stall/app/blobs/{digest}").content == first + rest


def test_a_stalled_admin_body_is_cut(stalling: CargoholdServer) -> None:
    sock = connect(stalling.port, "127.0.0.3")
    try:
        headers = {
            "Authorization": stalling.admin_authorization,
            "Content-Type": "application/json",
            "Content-Length": "100",
        }
        sock.sendall(head("POST", "/api/v1/tag-rules", headers) + b'{"scope": ')
        response = read_response(sock, timeout=10 * STALL_TIMEOUT)
    finally:
        sock.close()
    assert status_of(response) == 408, response[:300]
    assert _error_code(response) == "SIZE_INVALID"


def test_a_connection_that_stalls_in_its_headers_is_closed(stalling: CargoholdServer) -> None:
    """Half a request header, then nothing: the server closes the connection once
    `header_read_timeout_seconds` pass (here 2 s; 20 by default), freeing its place."""
    sock = connect(stalling.port, "127.0.0.3")
    try:
        started = time.monotonic()
        sock.sendall(b"GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: sl")
        sock.settimeout(10 * STALL_TIMEOUT)
        try:
            while sock.recv(65536):
                pass
        except ConnectionResetError:
            pass
        elapsed = time.monotonic() - started
    finally:
        sock.close()
    assert STALL_TIMEOUT * 0.75 <= elapsed < 5 * STALL_TIMEOUT, elapsed


def test_a_slow_but_steady_body_is_not_cut(stalling: CargoholdServer) -> None:
    """The timeout is idle time between pieces, not time for the whole body."""
    pieces = [bytes([65 + n]) * KIB for n in range(6)]
    data = b"".join(pieces)
    digest = digest_of(data)
    sock = connect(stalling.port, "127.0.0.3")
    try:
        headers = {
            "Authorization": stalling.admin_authorization,
            "Content-Type": "application/octet-stream",
            "Content-Length": str(len(data)),
        }
        sock.sendall(head("POST", f"/v2/steady/app/blobs/uploads/?digest={digest}", headers))
        for piece in pieces:  # about 1.5 timeouts in all, never a whole one between pieces
            sock.sendall(piece)
            time.sleep(STALL_TIMEOUT / 4)
        response = read_response(sock, timeout=5)
    finally:
        sock.close()
    assert status_of(response) == 201, response[:300]


def test_uploads_over_the_per_address_cap_get_429(stalling: CargoholdServer) -> None:
    held = [_slow_upload(stalling, "127.0.0.4", n) for n in range(STALL_CAP)]
    try:
        assert all(held)
        time.sleep(0.5)  # let the server take them in
        over = _slow_upload(stalling, "127.0.0.4", STALL_CAP)
        assert over is not None
        try:
            response = read_response(over, timeout=10)
        finally:
            over.close()
        assert status_of(response) == 429, response[:300]
        assert _error_code(response) == "TOOMANYREQUESTS"
        assert b"retry-after: 2" in response.lower()

        # Another address is not affected, nor are requests without a body.
        with httpx.Client(base_url=stalling.url, auth=stalling.admin_auth, timeout=30) as client:
            push_image(client, "cap/other", "v1")
        local = httpx.HTTPTransport(local_address="127.0.0.4")
        with httpx.Client(
            base_url=stalling.url, auth=stalling.admin_auth, timeout=30, transport=local
        ) as client:
            assert client.get("/v2/").status_code == 200
            assert client.post("/v2/cap/app/blobs/uploads/").status_code == 202
            response = client.post(
                "/v2/cap/app/blobs/uploads/", params={"digest": digest_of(b"x")}, content=b"x"
            )
            assert_error(response, 429, "TOOMANYREQUESTS")
    finally:
        for sock in held:
            if sock is not None:
                sock.close()
    # A place frees when a body ends (here: its client hangs up).
    deadline = time.monotonic() + 20
    local = httpx.HTTPTransport(local_address="127.0.0.4")
    with httpx.Client(
        base_url=stalling.url, auth=stalling.admin_auth, timeout=30, transport=local
    ) as client:
        while True:
            response = client.post(
                "/v2/cap/app/blobs/uploads/", params={"digest": digest_of(b"x")}, content=b"x"
            )
            if response.status_code != 429 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert response.status_code == 201, response.text


def test_a_client_that_hangs_up_mid_body_is_not_a_server_error(
    stalling: CargoholdServer,
) -> None:
    path = "/v2/hangup/app/blobs/uploads/?digest=sha256:" + "e" * 64
    sock = connect(stalling.port, "127.0.0.3")
    headers = {
        "Authorization": stalling.admin_authorization,
        "Content-Type": "application/octet-stream",
        "Content-Length": str(1024 * KIB),
    }
    sock.sendall(head("POST", path, headers) + b"h" * (400 * KIB))
    time.sleep(0.5)
    sock.close()
    deadline = time.monotonic() + 10
    logged: list[dict[str, object]] = []
    while not logged and time.monotonic() < deadline:
        time.sleep(0.2)
        lines = stalling.log_path.read_text().splitlines()
        logged = [
            entry
            for entry in (json.loads(line) for line in lines if line.startswith("{"))
            if entry.get("path") == "/v2/hangup/app/blobs/uploads/"
        ]
    assert [entry["status"] for entry in logged] == [400]
    assert "unhandled error" not in stalling.log_path.read_text()
