"""Builders of common errors, and recognising a full disk in whatever raised it."""

from __future__ import annotations

import errno

from cargohold.errors.base import RegistryError
from cargohold.errors.registry import Denied


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
