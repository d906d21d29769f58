"""Read an image out of a Docker daemon, as `docker-daemon:NAME` (skopeo's transport) names
it: the Engine API's `GET /images/{name}/get` (what `docker save` uses) over the daemon's
socket, saved to a tarball the local scanner reads.

The socket is `DOCKER_HOST` when it is `unix://PATH` (or `tcp://HOST:PORT`, plain HTTP),
else /var/run/docker.sock. A missing socket, a refused connection or an unknown image is a
DaemonError with one line for the user.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

import httpx

DEFAULT_SOCKET = "/var/run/docker.sock"
API_VERSION = "v1.41"  # Docker Engine 20.10; newer daemons answer older versions
CHUNK = 1 << 20


class DaemonError(Exception):
    """The image could not be read from the Docker daemon; the message is one line."""


def _endpoint(env: Mapping[str, str]) -> tuple[str | None, str]:
    """(unix socket path or None, base URL) from DOCKER_HOST."""
    host = env.get("DOCKER_HOST") or f"unix://{DEFAULT_SOCKET}"
    if host.startswith("unix://"):
        return host.removeprefix("unix://"), "http://docker"
    if host.startswith("tcp://"):
        return None, "http://" + host.removeprefix("tcp://")
    raise DaemonError(f"DOCKER_HOST={host}: only unix:// and tcp:// daemons are supported")


def save_image(name: str, target: Path, env: Mapping[str, str] | None = None) -> None:
    """Write the daemon's `docker save` tarball of `name` to `target`."""
    env = os.environ if env is None else env
    if not name:
        raise DaemonError("docker-daemon: names no image (docker-daemon:NAME[:TAG])")
    socket, base = _endpoint(env)
    if socket is not None:
        if not os.path.exists(socket):
            raise DaemonError(
                f"docker-daemon:{name}: no Docker daemon socket at {socket} "
                "(is the daemon running? set DOCKER_HOST=unix://PATH for another one)"
            )
        if not os.access(socket, os.R_OK | os.W_OK):
            raise DaemonError(
                f"docker-daemon:{name}: permission denied on {socket} "
                "(join the docker group, or run as a user who may use the daemon)"
            )
    transport = httpx.HTTPTransport(uds=socket) if socket else None
    where = socket or base
    try:
        with (
            httpx.Client(base_url=base, transport=transport, timeout=300) as http,
            http.stream("GET", f"/{API_VERSION}/images/{quote(name, safe='')}/get") as response,
        ):
            if response.status_code != 200:
                response.read()
                raise DaemonError(_refusal(name, response))
            with open(target, "wb") as file:
                for chunk in response.iter_bytes(CHUNK):
                    file.write(chunk)
    except httpx.HTTPError as exc:
        raise DaemonError(
            f"docker-daemon:{name}: cannot talk to the daemon at {where}: {exc}"
        ) from None
    except PermissionError:
        raise DaemonError(f"docker-daemon:{name}: permission denied on {where}") from None
    except OSError as exc:
        raise DaemonError(f"docker-daemon:{name}: {exc.strerror or exc}") from None


def _refusal(name: str, response: httpx.Response) -> str:
    try:
        message = str(response.json().get("message", ""))
    except (ValueError, AttributeError):
        message = response.text.strip()[:200]
    if response.status_code == 404:
        return f"docker-daemon:{name}: no such image in the Docker daemon ({message})"
    return (
        f"docker-daemon:{name}: the Docker daemon answered HTTP {response.status_code}: {message}"
    )
