"""The composition root's access-control part: identity, robots, registry tokens and the token
endpoint's grants (build_access_control), and the pull rate limiter (build_pull_limits).

Apart from wiring.py so that the commands that need only accounts (the first start,
`cargohold admin`) build them without importing every other service.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from cargohold.config import Settings
from cargohold.config_validation import PULL_LIMIT_CLASSES
from cargohold.meta.access_tokens import AccessTokenRecords
from cargohold.meta.audit import AuditLog
from cargohold.meta.database import Database
from cargohold.meta.login_failures import LoginFailureRecords
from cargohold.meta.projects import ProjectRecords
from cargohold.meta.pull_counters import PullCounterRecords
from cargohold.meta.refresh_tokens import RefreshTokenRecords
from cargohold.meta.robots import RobotRecords
from cargohold.meta.token_revocations import TokenRevocationRecords
from cargohold.meta.users import UserRecords
from cargohold.policy.access import AccessPolicy, AllowAll, ReadOnly
from cargohold.policy.login_throttle import LoginThrottle
from cargohold.policy.pull_limits import PullLimits, RateLimit
from cargohold.services.access import AccessControl
from cargohold.services.audit import AuditTrail
from cargohold.services.identity import AccessStores, IdentityService
from cargohold.services.projects import ProjectService
from cargohold.services.pull_counters import (
    DatabasePullCounters,
    FallbackPullCounters,
    PullCounters,
)
from cargohold.services.pull_limits import PullRateLimiter
from cargohold.services.registry import RegistryService
from cargohold.services.robots import RobotService
from cargohold.services.secrets_hashing import Passwords
from cargohold.services.token_grants import TokenGrantService
from cargohold.services.token_keys import (
    ConfiguredKeys,
    KeyRing,
    SigningKeys,
    configured_keys,
)
from cargohold.services.token_revocations import TokenRevocations
from cargohold.services.tokens import TokenService
from cargohold.services.users import UserService


def access_policy(settings: Settings) -> AccessPolicy:
    # Until users and roles arrive, the only policy with refusals is maintenance mode.
    return ReadOnly() if settings.read_only else AllowAll()


def build_access_control(
    settings: Settings,
    db: Database,
    trail: AuditTrail | None = None,
    clock: Callable[[], float] = time.time,
) -> AccessControl:
    """Identity, robots, registry tokens and the token endpoint's grants over the metadata
    store. Building them reads nothing and writes nothing: the signing keys are read (or
    made) on first use. Logins and refused grants are noted in `trail`, which the server's
    pull recorder flushes; a command outside the server (the first start, `cargohold admin`)
    gets a trail of its own, and what it changes is audited in the change's transaction."""
    if trail is None:
        trail = AuditTrail(AuditLog(db), settings.audit_retention_days, clock)
    stores = AccessStores(
        users=UserRecords(db),
        projects=ProjectRecords(db),
        robots=RobotRecords(db),
        tokens=AccessTokenRecords(db),
        failures=LoginFailureRecords(db),
        refresh_tokens=RefreshTokenRecords(db),
    )

    def throttle(threshold: int) -> LoginThrottle:
        return LoginThrottle(
            threshold,
            settings.auth_lockout_seconds,
            settings.auth_slowdown_base_seconds,
            settings.auth_slowdown_max_seconds,
        )

    identity = IdentityService(
        stores,
        Passwords(
            at_once=settings.auth_password_checks_at_once,
            waiting=settings.auth_password_checks_waiting,
        ),
        account_throttle=throttle(settings.auth_lockout_threshold),
        address_throttle=throttle(settings.auth_address_lockout_threshold),
        robot_prefix=settings.auth_robot_prefix,
        trail=trail,
        clock=clock,
    )
    users = UserService(identity)
    robots = RobotService(
        stores.robots,
        stores.projects,
        settings.auth_robot_prefix,
        settings.auth_robot_expiry_days,
        trail,
        clock,
    )
    tokens = token_service(settings, clock, db)
    grants = TokenGrantService(
        identity,
        stores,
        tokens,
        settings.auth_refresh_token_expiry_days,
        clock,
    )
    projects = ProjectService(stores.projects, clock)
    return AccessControl(stores, identity, users, robots, tokens, grants, projects)


def signing_keys(settings: Settings, clock: Callable[[], float] = time.time) -> SigningKeys:
    """The keys of the configuration (`auth_token_keys`), else of the key directory."""
    if settings.auth_token_keys:
        return ConfiguredKeys(configured_keys(settings.auth_token_keys))
    return KeyRing(settings.token_key_dir, clock)


def token_service(
    settings: Settings, clock: Callable[[], float] = time.time, db: Database | None = None
) -> TokenService:
    """Registry tokens signed and verified with the keys of `auth_token_keys` or of
    `auth_token_key_dir`; with `db`, the tokens of subjects whose credentials or rights
    changed stop counting (a server's)."""
    revocations = TokenRevocations(
        TokenRevocationRecords(db) if db is not None else None,
        settings.auth_token_expiry_seconds,
        clock,
    )
    return TokenService(
        signing_keys(settings, clock),
        settings.auth_token_issuer,
        settings.auth_token_service,
        settings.auth_token_expiry_seconds,
        clock,
        revocations=revocations,
        reuse_seconds=settings.auth_token_reuse_seconds,
    )


def pull_limits_of(settings: Settings) -> PullLimits:
    """Each class's limit from the settings; a count of 0 sets none."""

    def limit(kind: str) -> RateLimit | None:
        pulls = getattr(settings, f"pull_limit_{kind}")
        window = getattr(settings, f"pull_limit_{kind}_window_seconds")
        return RateLimit(pulls, window) if pulls > 0 else None

    anonymous, user, robot = (limit(kind) for kind in PULL_LIMIT_CLASSES)
    return PullLimits(anonymous=anonymous, user=user, robot=robot)


def build_pull_limits(
    settings: Settings, db: Database, registry: RegistryService, clock: Callable[[], float]
) -> PullRateLimiter:
    """The limiter over the counter store `pull_limit_store` names: Redis for a redis:// URL
    (imported only then), with the metadata store behind it while Redis is unreachable; else
    the metadata store."""
    limits = pull_limits_of(settings)
    longest = max(
        getattr(settings, f"pull_limit_{kind}_window_seconds") for kind in PULL_LIMIT_CLASSES
    )
    counters: PullCounters = DatabasePullCounters(PullCounterRecords(db), longest, clock)
    if limits.any and settings.pull_limit_store:
        from cargohold.services.pull_counters_redis import RedisPullCounters

        counters = FallbackPullCounters(RedisPullCounters(settings.pull_limit_store), counters)
    return PullRateLimiter(limits, counters, registry)
