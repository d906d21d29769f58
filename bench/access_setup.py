"""Who the benchmark signs in as: accounts in cargohold's store, an htpasswd file for
distribution, and the credentials each bench client sends.

cargohold's accounts are made as an operator would make them: through its admin API, signed
in as the first-start admin. Everything the workloads then do goes over HTTP with the
credentials a client would send.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_ADMIN_PASSWORD = "bench-admin-password"
ROBOT = "bench-ci"  # robot$bench-ci
DISTRIBUTION_USER = "bench"
DISTRIBUTION_PASSWORD = "bench-password"
# htpasswd's own default for -B, and what distribution's docs generate (`htpasswd -Bbn`).
BCRYPT_COST = 5


@dataclass(frozen=True)
class Login:
    """How a bench client signs in to one server.

    - `none`: no credentials (anonymous; or a server with auth off);
    - `basic`: `Authorization: Basic` on every request (distribution with htpasswd);
    - `token`: a registry token from the server's /auth/token, got with Basic credentials
      (empty name: anonymous), sent as `Authorization: Bearer` (docker's token flow).
    """

    kind: str
    name: str = ""
    secret: str = field(default="", repr=False)
    service: str = "cargohold"


ANONYMOUS = Login("none")
# What docker and skopeo do without credentials: the 401 of `GET /v2/` sends them to the
# token endpoint, which gives anyone a token for what anyone may do (pull on public projects).
ANONYMOUS_TOKEN = Login("token")


@dataclass(frozen=True)
class CargoholdAccounts:
    robot: Login  # pull and push on every bench project
    admin_token: Login  # the system admin's personal access token (for /api/v1/system)


def setup_cargohold(base: str, projects: Iterable[str], public: Iterable[str]) -> CargoholdAccounts:
    """Projects (those in `public` public, the others private), a robot with pull and push on
    each, and a personal access token of the first-start admin's: made through the admin API
    of the server at `base`, signed in as that admin with the bench's password."""
    admin = basic_header("admin", BENCH_ADMIN_PASSWORD)
    names = list(dict.fromkeys(projects))
    public_names = set(public)
    for project in names:
        _post(base, "/api/v1/projects", admin, {"name": project, "public": project in public_names})
    scopes = [{"project": project, "actions": ["pull", "push"]} for project in names]
    robot = _post(base, "/api/v1/robots", admin, {"name": ROBOT, "scopes": scopes})
    pat = _post(base, "/api/v1/users/admin/tokens", admin, {"name": "bench"})
    return CargoholdAccounts(
        Login("token", robot["robot"]["name"], robot["secret"]),
        Login("basic", "admin", pat["secret"]),
    )


def basic_header(name: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{name}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def _post(base: str, path: str, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    """POST a JSON body to the admin API; its JSON answer (an error names the request)."""
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        headers={**headers, "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"POST {path}: HTTP {exc.code} {exc.read()[:300]!r}") from None


def write_htpasswd(
    path: Path, user: str = DISTRIBUTION_USER, password: str = DISTRIBUTION_PASSWORD
) -> Login:
    """distribution's htpasswd file (bcrypt, the only format it takes): Python's bcrypt when
    installed, otherwise the `htpasswd` tool of apache2-utils."""
    try:
        import bcrypt  # type: ignore[import-not-found]

        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=BCRYPT_COST)).decode()
        line = f"{user}:{hashed}"
    except ImportError:
        tool = shutil.which("htpasswd")
        if tool is None:
            raise RuntimeError("htpasswd not found: `make bench` installs apache2-utils") from None
        out = subprocess.run(
            [tool, "-n", "-b", "-B", "-C", str(BCRYPT_COST), user, password],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        line = out.stdout.strip()
    path.write_text(line + "\n")
    return Login("basic", user, password)
