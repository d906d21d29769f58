"""The production stack on loopback: PostgreSQL, SeaweedFS's S3 gateway and Redis shared by
two `cargohold serve` nodes behind Debian's nginx (the shipped site), and two
`cargohold worker` processes that run every job (the nodes run none: `job_workers = 0`).

The nodes share what deploy/compose/scaled.yaml's nodes share: the metadata database, the
bucket (under a key prefix of this stack's), the job queue and pull-limit counters in Redis,
the token signing keys (one directory), and `trusted_proxies` naming nginx's address. Each node
has a data directory of its own otherwise, as containers on different hosts would.
"""

from __future__ import annotations

import secrets
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from cargohold.policy.permissions import Role
from tests.support.accounts import Accounts, Login
from tests.support.nginx import NginxBalancer
from tests.support.postgres import PostgresServer
from tests.support.production import production_env
from tests.support.redis import RedisServer
from tests.support.seaweedfs import SeaweedServer
from tests.support.server import ADMIN, CargoholdServer
from tests.support.tokenflow import TokenFlow
from tests.support.worker import CargoholdWorker

# The project the tests push into, and its maintainer, who signs in with a password.
PROJECT = "multi"
DEVELOPER = "developer"
# Every minute: the test of schedules needs one that fires during the session, and the audit
# purge changes nothing here (retention is a year).
EVERY_MINUTE = "* * * * *"
# The two workers start together early enough in a minute for both to claim its schedules
# (each checks them as it starts, then every 60 s): that minute has two contenders.
LATEST_START_SECOND = 40
# The stack's Redis database: its queue, schedule claims and counters are its own (a
# session's other servers on the same redis-server use others).
STACK_REDIS_DB = 2


@dataclass
class ProductionStack:
    nodes: tuple[CargoholdServer, CargoholdServer]
    workers: tuple[CargoholdWorker, CargoholdWorker]
    nginx: NginxBalancer
    seaweedfs: SeaweedServer
    redis_url: str
    prefix: str
    database_url: str
    admin: Login
    developer: Login
    accounts: Accounts
    started_at: float = field(default_factory=time.time)

    @property
    def url(self) -> str:
        """nginx's URL: where clients go."""
        return self.nginx.url

    @property
    def endpoints(self) -> dict[str, str]:
        """Each way in, by name: node A, node B and nginx."""
        return {"node-a": self.nodes[0].url, "node-b": self.nodes[1].url, "nginx": self.url}

    def admin_client(self, base_url: str) -> httpx.Client:
        """The system admin, signed in with their password: registry tokens from the token
        endpoint on /v2/, the password itself on the admin API."""
        return httpx.Client(base_url=base_url, auth=TokenFlow(self.admin), timeout=60)

    def stop(self) -> None:
        _stop(self.nginx, self.workers, self.nodes, self.accounts)


def _stop(
    nginx: NginxBalancer,
    workers: tuple[CargoholdWorker, ...],
    nodes: tuple[CargoholdServer, ...],
    accounts: Accounts | None,
) -> None:
    """Stop what a stack started (or, when its start failed, what it had started so far)."""
    nginx.stop()
    for worker in workers:
        worker.stop()
    for node in nodes:
        node.stop()
    if accounts is not None:
        accounts.close()


def _wait_for_early_minute() -> None:
    """Wait (at most 20 s) until the UTC minute is at most LATEST_START_SECOND old."""
    second = datetime.now(UTC).second
    if second > LATEST_START_SECOND:
        time.sleep(60 - second + 0.2)


def start_stack(
    root: Path, postgres: PostgresServer, seaweedfs: SeaweedServer, redis: RedisServer
) -> ProductionStack:
    database_url = postgres.create_database(f"multinode_{uuid.uuid4().hex[:8]}")
    prefix = f"multinode-{uuid.uuid4().hex[:12]}"
    settings = {
        **production_env(seaweedfs, prefix, redis.db_url(STACK_REDIS_DB), database_url),
        "CARGOHOLD_JOB_WORKERS": "0",
        "CARGOHOLD_AUTH_TOKEN_KEY_DIR": str(root / "token-keys"),
        "CARGOHOLD_TRUSTED_PROXIES": "127.0.0.1",
        "CARGOHOLD_AUDIT_PURGE_SCHEDULE": EVERY_MINUTE,
        # A user limit high enough never to bite: the counters are kept in Redis.
        "CARGOHOLD_PULL_LIMIT_USER": "1000000",
        # Every client comes from 127.0.0.1: a refused login of one test (a disabled user's)
        # must not slow down or lock out the others' logins from that address.
        "CARGOHOLD_AUTH_SLOWDOWN_BASE_SECONDS": "0",
        "CARGOHOLD_AUTH_ADDRESS_LOCKOUT_THRESHOLD": "1000000",
    }
    password = secrets.token_urlsafe(18)
    nodes = tuple(
        CargoholdServer(
            root / name, database_url=database_url, extra_env=settings, admin_password=password
        )
        for name in ("node-a", "node-b")
    )
    workers = tuple(
        CargoholdWorker(root / name, settings, database_url) for name in ("worker-1", "worker-2")
    )
    nginx = NginxBalancer(root / "nginx", (nodes[0].host, nodes[1].host))
    accounts: Accounts | None = None
    try:
        # The first start migrates the schema (the other waits on the advisory lock).
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda node: node.start(), nodes))
        _wait_for_early_minute()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.wait_ready()
        nginx.start()
        accounts = Accounts(nodes[0])
        accounts.project(PROJECT)
        developer = accounts.user(DEVELOPER, secrets.token_urlsafe(18))
        accounts.member(PROJECT, DEVELOPER, Role.MAINTAINER)
    except BaseException:
        _stop(nginx, workers, nodes, accounts)
        raise
    return ProductionStack(
        nodes=(nodes[0], nodes[1]),
        workers=(workers[0], workers[1]),
        nginx=nginx,
        seaweedfs=seaweedfs,
        redis_url=redis.db_url(STACK_REDIS_DB),
        prefix=prefix,
        database_url=database_url,
        admin=Login(ADMIN, password),
        developer=developer,
        accounts=accounts,
    )
