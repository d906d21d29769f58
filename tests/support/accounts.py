"""Users, projects, roles, robots and personal access tokens in a test server's store.

Tests that are not about managing accounts set them up the way an operator's local command
would, through the access services on the server's own metadata store (quicker than the
accounts API, which test_accounts_*.py exercise, and free to backdate a robot). Everything a
test then does with them goes over HTTP, with the credentials a client would send.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from cargohold.meta.database import Database
from cargohold.meta.db import make_engine
from cargohold.meta.robots import RobotScope
from cargohold.policy.permissions import Principal, Role
from cargohold.policy.scopes import ResourceScope
from cargohold.services.access import AccessControl
from cargohold.services.caller import PASSWORD_METHOD, Caller, system_caller
from cargohold.wiring_access import build_access_control, token_service
from tests.support.server import CargoholdServer

# The system admin, as robots' granter and revoker; the test setup, for direct store writes.
SYSTEM = Caller(Principal("user", "admin", system_admin=True), PASSWORD_METHOD)
OPERATOR = system_caller("test-setup")
DAY = 86400.0


@dataclass(frozen=True)
class Login:
    """A name and a secret (password, personal access token or robot secret)."""

    name: str
    secret: str = field(repr=False)

    @property
    def auth(self) -> httpx.BasicAuth:
        return httpx.BasicAuth(self.name, self.secret)

    @property
    def creds(self) -> str:
        """`name:secret`, as clients take it on their command line (skopeo --creds, buildah
        --creds, ctr --user)."""
        return f"{self.name}:{self.secret}"


class Accounts:
    def __init__(self, server: CargoholdServer) -> None:
        self.server = server
        self.engine = make_engine(server.settings().metadata_url)
        self.db = Database(self.engine)
        self.access = self._control(time.time)

    def _control(self, clock: Callable[[], float]) -> AccessControl:
        return build_access_control(self.server.settings(), self.db, clock=clock)

    def close(self) -> None:
        self.db.close()
        self.engine.dispose()

    def user(self, name: str, password: str, system_admin: bool = False) -> Login:
        self.access.users.create_user(name, password, system_admin, OPERATOR)
        return Login(name, password)

    def project(self, name: str, public: bool = False) -> None:
        assert self.access.stores.projects.create(name, public, OPERATOR.as_actor(), time.time())

    def member(self, project: str, user: str, role: Role) -> None:
        assert self.access.stores.projects.set_member(
            project, user, role, OPERATOR.as_actor(), time.time()
        )

    def token(self, user: str, name: str = "ci") -> Login:
        """A personal access token of the user's, with its owner's name (how it is sent)."""
        _, text = self.access.users.create_access_token(user, name, None, OPERATOR)
        return Login(user, text)

    def robot(
        self, name: str, scopes: Mapping[str, tuple[str, ...]], days_ago: float = 0.0
    ) -> Login:
        """A robot made `days_ago` days ago with the default 30-day expiry (so one made 31
        days ago has expired)."""
        made_at = time.time() - days_ago * DAY
        robots = self._control(lambda: made_at).robots
        robot, secret = robots.create(
            SYSTEM, name, [RobotScope(project, actions) for project, actions in scopes.items()]
        )
        return Login(robot.name, secret)

    def revoke(self, robot: Login) -> None:
        self.access.robots.revoke(SYSTEM, robot.name)

    def refresh(self, robot: Login) -> Login:
        """A new secret for the robot (the old one stops working)."""
        _, secret = self.access.robots.refresh(SYSTEM, robot.name)
        return Login(robot.name, secret)

    def delete_token(self, user: str, name: str) -> None:
        self.access.users.delete_access_token(user, name, OPERATOR)

    def remove_member(self, project: str, user: str) -> None:
        assert self.access.stores.projects.remove_member(
            project, user, OPERATOR.as_actor(), time.time()
        )

    def disable(self, user: str) -> None:
        assert self.access.stores.users.set_flags(
            user, OPERATOR.as_actor(), time.time(), disabled=True
        )


def failed_login_env(account_lockout: int) -> dict[str, str]:
    """Server settings for tests that fail logins on purpose, all from 127.0.0.1: no slowdown
    and no address lock, so one test's failures never hold back the next; an account locks at
    its `account_lockout`th failure."""
    return {
        "CARGOHOLD_AUTH_SLOWDOWN_BASE_SECONDS": "0",
        "CARGOHOLD_AUTH_ADDRESS_LOCKOUT_THRESHOLD": "1000000",
        "CARGOHOLD_AUTH_LOCKOUT_THRESHOLD": str(account_lockout),
    }


@contextmanager
def server_with_accounts(
    data_dir: Path, account_lockout: int
) -> Iterator[tuple[CargoholdServer, Accounts]]:
    """A started server (failed_login_env) and the Accounts of its store, closed after."""
    server = CargoholdServer(data_dir, extra_env=failed_login_env(account_lockout)).start()
    accounts = Accounts(server)
    try:
        yield server, accounts
    finally:
        accounts.close()
        server.stop()


def registry_token(
    server: CargoholdServer,
    subject: str,
    access: list[ResourceScope],
    clock: Callable[[], float] = time.time,
) -> str:
    """A registry token signed with the server's own keys, read from its data directory.

    For tests of what /v2/ and /api/v1/ do with a token, not of logging in: a client gets its
    tokens from the token endpoint, which signs them with these same keys.
    """
    return token_service(server.settings(), clock).issue(subject, access).token
