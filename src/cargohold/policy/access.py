"""Who may read and write which repository.

The registry core ships without users: everyone may pull and push. The access
issue replaces `AllowAll` with roles and tokens; every read path already asks.
"""

from __future__ import annotations

from typing import Protocol


class AccessPolicy(Protocol):
    def can_pull(self, repository: str) -> bool: ...
    def can_push(self, repository: str) -> bool: ...


class AllowAll:
    def can_pull(self, repository: str) -> bool:
        return True

    def can_push(self, repository: str) -> bool:
        return True
