"""Builders of common errors, and recognising a full disk or an unreachable store in whatever
raised it."""

from __future__ import annotations

import errno
from collections.abc import Iterator

from cargohold.errors.base import RegistryError
from cargohold.errors.registry import Denied, TooManyRequests


def check_push(denial: str | None, repository: str) -> None:
    """Raise DENIED with the policy's reason when a change to `repository` is refused."""
    if denial is not None:
        raise Denied(f"cannot change {repository}: {denial}", detail={"name": repository})


def quota_denied(project: str, usage: int, adding: int, limit: int) -> RegistryError:
    """DENIED for a push that would take a project past its storage quota."""
    return Denied(
        f"storage quota of project {project} exceeded: {usage} bytes used + {adding} bytes "
        f"pushed would exceed the limit of {limit} bytes",
        detail={"project": project, "usage": usage, "adding": adding, "limit": limit},
    )


def rate_limit_headers(limit: int, window_seconds: int, remaining: int) -> dict[str, str]:
    """Docker Hub's pull rate-limit headers, in the IETF RateLimit draft's `limit;w=window`
    form (`w` is the window's length, not when it ends)."""
    return {
        "ratelimit-limit": f"{limit};w={window_seconds}",
        "ratelimit-remaining": f"{remaining};w={window_seconds}",
    }


def pull_limit_reached(limit: int, window_seconds: int, retry_after: int) -> RegistryError:
    """TOOMANYREQUESTS for a pull over the caller's rate limit, with the limit's headers and
    `Retry-After`: the seconds until a pull is counted again."""
    return TooManyRequests(
        f"pull rate limit reached: {limit} pulls per {window_seconds} seconds; "
        f"a pull is possible again in {retry_after} s",
        detail={"limit": limit, "windowSeconds": window_seconds, "retryAfterSeconds": retry_after},
        headers={
            **rate_limit_headers(limit, window_seconds, 0),
            "Retry-After": str(retry_after),
        },
    )


_SQLITE_FULL = 13  # SQLITE_FULL: "database or disk is full"
_PG_DISK_FULL = "53100"  # PostgreSQL's SQLSTATE disk_full
_SQLITE_BUSY = 5  # "database is locked" (another writer)
_SQLITE_LOCKED = 6
# too_many_connections, admin_shutdown, crash_shutdown, cannot_connect_now (starting up or in
# recovery)
_PG_UNAVAILABLE = frozenset({"53300", "57P01", "57P02", "57P03"})


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and every error it wraps: SQLAlchemy's `.orig`, `__cause__` and `__context__`."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)
        pending.extend(
            [
                orig if isinstance(orig, BaseException) else None,
                current.__cause__,
                current.__context__,
            ]
        )


def is_disk_full(exc: BaseException) -> bool:
    """Whether `exc`, or an error it wraps, says a disk or quota is full.

    Recognises ENOSPC and EDQUOT, SQLite's SQLITE_FULL and PostgreSQL's disk_full, raw or
    wrapped by SQLAlchemy (`.orig`) or chained (`__cause__`, `__context__`).
    """
    for current in _causes(exc):
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        code = getattr(current, "sqlite_errorcode", None)
        if isinstance(code, int) and code & 0xFF == _SQLITE_FULL:
            return True
        if "database or disk is full" in str(current):
            return True
        if getattr(current, "sqlstate", None) == _PG_DISK_FULL:
            return True
    return False


def is_store_unavailable(exc: BaseException) -> bool:
    """Whether `exc`, or an error it wraps, says the metadata store cannot be reached now
    (a refused or lost connection, a server shutting down or starting, a pool or lock wait
    that ran out), as opposed to a request it refused: a condition to retry, not a bug.

    Recognises PostgreSQL's connection errors (psycopg's OperationalError without an SQLSTATE
    of another class, SQLSTATE class 08, 53300 and 57P01-57P03), a connection SQLAlchemy found
    invalidated or a pool timeout, and SQLite's SQLITE_BUSY/SQLITE_LOCKED.
    """
    for current in _causes(exc):
        if getattr(current, "connection_invalidated", False):
            return True
        kind = type(current)
        module, name = kind.__module__, kind.__name__
        if module.startswith("sqlalchemy") and name == "TimeoutError":
            return True  # the connection pool's wait ran out
        if module.startswith("psycopg"):
            sqlstate = getattr(current, "sqlstate", None)
            if sqlstate is None and name in ("OperationalError", "PoolTimeout"):
                return True
            if isinstance(sqlstate, str) and (
                sqlstate.startswith("08") or sqlstate in _PG_UNAVAILABLE
            ):
                return True
        code = getattr(current, "sqlite_errorcode", None)
        if isinstance(code, int) and code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED):
            return True
    return False
