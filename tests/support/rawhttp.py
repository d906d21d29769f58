"""Raw HTTP/1.1 over sockets, for clients no library will imitate: bodies that never end, bodies
that stall, and measuring what they cost the server (its worker processes' resident memory)."""

from __future__ import annotations

import resource
import select
import socket
import time
from pathlib import Path

from tests.support.processes import children_by_parent

CHUNK = 64 * 1024


def connect(port: int, source: str = "127.0.0.1") -> socket.socket:
    """A loopback connection to `port`; `source` picks the client address (any 127.x.y.z)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    return sock


def head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: 127.0.0.1",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_response(sock: socket.socket, timeout: float) -> bytes:
    """One response: up to the end of its body (by Content-Length), or what arrived before the
    server closed the connection or `timeout` passed."""
    sock.settimeout(timeout)
    received = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not _complete(received):
        try:
            data = sock.recv(65536)
        except (TimeoutError, ConnectionResetError):
            break
        if not data:
            break
        received += data
    return received


def _complete(response: bytes) -> bool:
    header, sep, body = response.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in header.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/1.1 ") else 0


def send_until_answered(
    port: int, request_head: bytes, total: int, chunked: bool, timeout: float = 60
) -> tuple[int, bytes]:
    """Send `request_head`, then up to `total` body bytes, stopping as soon as the server
    answers; returns (body bytes sent, the response)."""
    sock = connect(port)
    try:
        sock.sendall(request_head)
        piece = b"x" * CHUNK
        frame = f"{CHUNK:x}\r\n".encode() + piece + b"\r\n" if chunked else piece
        sent = 0
        answered = False
        deadline = time.monotonic() + timeout
        while sent < total and not answered and time.monotonic() < deadline:
            readable, writable, _ = select.select([sock], [sock], [], 1.0)
            answered = bool(readable)
            if writable and not answered:
                try:
                    sock.sendall(frame)
                except (BrokenPipeError, ConnectionResetError):
                    break
                sent += CHUNK
        if chunked and sent >= total and not answered:
            sock.sendall(b"0\r\n\r\n")
        return sent, read_response(sock, timeout=10)
    finally:
        sock.close()


def worker_pids(server_pid: int) -> list[int]:
    """The processes the server process forked (granian's workers)."""
    return children_by_parent().get(server_pid, [])


def resident_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


def open_files_limit() -> int:
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20
