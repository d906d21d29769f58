"""Who may read and write which repository.

The registry core ships without users: everyone may pull and push. The access
issue replaces `AllowAll` with roles and tokens; every read path already asks.
"""

from __future__ import annotations

from typing import Protocol


class AccessPolicy(Protocol):
    def can_pull(self, repository: str) -> bool: ...

    def push_denied(self, repository: str) -> str | None:
        """Why a push, upload or delete in `repository` is refused; None when allowed."""
        ...


class AllowAll:
    def can_pull(self, repository: str) -> bool:
        return True

    def push_denied(self, repository: str) -> str | None:
        return None


class ReadOnly(AllowAll):
    """Maintenance mode (`read_only = true`): everything can be pulled, nothing changed."""

    def push_denied(self, repository: str) -> str | None:
        return "the registry is in read-only mode"
