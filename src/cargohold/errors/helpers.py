"""Builders of common errors, and recognising a full disk in whatever raised it."""

from __future__ import annotations

import errno

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


def is_disk_full(exc: BaseException) -> bool:
    """Whether `exc`, or an error it wraps, says a disk or quota is full.

    Recognises ENOSPC and EDQUOT, SQLite's SQLITE_FULL and PostgreSQL's disk_full, raw or
    wrapped by SQLAlchemy (`.orig`) or chained (`__cause__`, `__context__`).
    """
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        code = getattr(current, "sqlite_errorcode", None)
        if isinstance(code, int) and code & 0xFF == _SQLITE_FULL:
            return True
        if "database or disk is full" in str(current):
            return True
        if getattr(current, "sqlstate", None) == _PG_DISK_FULL:
            return True
        orig = getattr(current, "orig", None)
        pending.extend(
            [
                orig if isinstance(orig, BaseException) else None,
                current.__cause__,
                current.__context__,
            ]
        )
    return False
