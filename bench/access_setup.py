"""Who the benchmark signs in as: accounts in cargohold's store, an htpasswd file for
distribution, and the credentials each bench client sends.

cargohold has no admin API for projects and robots yet, so the bench sets them up the way the
test support does (tests/support/accounts.py): through cargohold's access services on the
server's own metadata store, while the server runs. Everything the workloads then do goes over
HTTP with the credentials a client would send.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

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


def setup_cargohold(
    data_dir: Path, projects: Iterable[str], public: Iterable[str], database_url: str = ""
) -> CargoholdAccounts:
    """Projects (those in `public` public, the others private), a robot with pull and push on
    each, and a personal access token of the first-start admin's, in the server's metadata
    store: the SQLite file in `data_dir`, or `database_url`."""
    from cargohold.config import Settings
    from cargohold.meta.database import Database
    from cargohold.meta.db import make_engine
    from cargohold.meta.robots import RobotScope
    from cargohold.policy.permissions import Principal
    from cargohold.services.caller import PASSWORD_METHOD, Caller, system_caller
    from cargohold.wiring import build_access_control

    settings = Settings(data_dir=str(data_dir), database_url=database_url)
    engine = make_engine(settings.metadata_url)
    db = Database(engine)
    try:
        access = build_access_control(settings, db)
        operator = system_caller("bench-setup")
        admin = Caller(Principal("user", "admin", system_admin=True), PASSWORD_METHOD)
        names = list(dict.fromkeys(projects))
        public_names = set(public)
        for project in names:
            access.stores.projects.create(
                project, project in public_names, operator.as_actor(), time.time()
            )
        scopes = [RobotScope(project, ("pull", "push")) for project in names]
        robot, secret = access.robots.create(admin, ROBOT, scopes)
        _, pat = access.users.create_access_token("admin", "bench", None, operator)
        return CargoholdAccounts(Login("token", robot.name, secret), Login("basic", "admin", pat))
    finally:
        db.close()
        engine.dispose()


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
