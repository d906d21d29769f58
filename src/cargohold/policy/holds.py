"""Retention holds: what must not be deleted, by anyone, as pure decisions.

A hold covers a project (every repository whose first path component is the
project), a repository, or a single image (a manifest digest in a repository),
with a reason and an optional end. While it is active it wins over every policy
and every delete, an administrator's manual delete included.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from cargohold.oci.names import project_of

HoldScope = Literal["project", "repository", "image"]


class HoldInvalid(ValueError):
    """A hold that cannot be stored; the message says why."""


@dataclass(frozen=True)
class Hold:
    id: int
    scope: HoldScope
    target: str  # a project or repository name
    digest: str | None
    reason: str
    ends_at: float | None

    def active(self, now: float) -> bool:
        return self.ends_at is None or now < self.ends_at

    def covers(self, repository: str, digest: str | None) -> bool:
        if self.scope == "project":
            return project_of(repository) == self.target
        if self.scope == "repository":
            return repository == self.target
        return repository == self.target and digest is not None and digest == self.digest

    def describe(self) -> str:
        where = f"{self.target}@{self.digest}" if self.scope == "image" else self.target
        until = (
            "until released"
            if self.ends_at is None
            else "until "
            + dt.datetime.fromtimestamp(self.ends_at, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        )
        return f"hold {self.id} on {self.scope} {where} ({self.reason}; {until})"


def holding(holds: Iterable[Hold], repository: str, digest: str | None, now: float) -> Hold | None:
    """The first active hold covering an image (or, with digest None, a whole repository)."""
    for hold in holds:
        if hold.active(now) and hold.covers(repository, digest):
            return hold
    return None


def validate_hold(hold: Hold, now: float) -> Hold:
    if hold.scope not in ("project", "repository", "image"):
        raise HoldInvalid(f"scope must be project, repository or image, got {hold.scope!r}")
    if not hold.target:
        raise HoldInvalid("target (a project or repository name) is required")
    if hold.scope == "project" and "/" in hold.target:
        raise HoldInvalid(f"a project is one path component, got {hold.target!r}")
    if (hold.scope == "image") != (hold.digest is not None):
        raise HoldInvalid("an image hold needs a digest; other holds take none")
    if not hold.reason.strip():
        raise HoldInvalid("a hold needs a reason")
    if hold.ends_at is not None and hold.ends_at <= now:
        raise HoldInvalid("the hold's end date is already past")
    return hold
