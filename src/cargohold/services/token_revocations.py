"""Registry tokens that stop counting before they expire.

A registry token carries what it allows and is checked by its signature alone, so by itself it
would keep working until it expires (`auth_token_expiry_seconds`) after its holder was
disabled or deleted, its robot revoked or given a new secret, its password changed, or its
project role taken away, and an anonymous token would keep pulling from a project made
private. Those changes write a revocation in their transaction
(meta/token_revocations.py); every server process reads the recent ones again every
REFRESH_SECONDS off the event loop, and from then on refuses a token of that subject issued
at or before the change. So a change reaches every node within a few seconds, and a request
pays a dict lookup for it.
"""

from __future__ import annotations

from collections.abc import Callable

from cargohold.meta.token_revocations import (
    ANONYMOUS_IN,
    TokenRevocationRecords,
    anonymous_in,
)
from cargohold.oci.names import project_of
from cargohold.policy.scopes import REPOSITORY, ResourceScope

# How often each server process reads the revocations again.
REFRESH_SECONDS = 2.0
# Rows older than any token can live are deleted; this much later, for clocks that differ.
PURGE_MARGIN_SECONDS = 300.0
# How often each process deletes them (a write: not at every refresh).
PURGE_EVERY_SECONDS = 600.0
# A token issued this long after a revocation is refused too: the revoking transaction took
# its time before it committed, and a sign-in that read the account meanwhile saw it as it was.
GRACE_SECONDS = 1.0


class TokenRevocations:
    def __init__(
        self,
        records: TokenRevocationRecords | None,
        token_lifetime_seconds: float,
        clock: Callable[[], float],
    ) -> None:
        self.records = records
        self.lifetime = token_lifetime_seconds
        self.clock = clock
        # Subject -> when its tokens stopped counting; replaced whole by each refresh.
        self.revoked: dict[str, float] = {}
        # Whether any project was made private within the revocations kept (a token's lifetime
        # and PURGE_MARGIN_SECONDS; most of the time none was: a token's pulls then need no
        # further look).
        self.projects_made_private = False
        self._purged_at = 0.0

    def refresh(self) -> None:
        """Read the revocations of tokens that may still live; delete older ones. Blocking:
        on the pool."""
        if self.records is None:
            return
        now = self.clock()
        cutoff = now - self.lifetime - PURGE_MARGIN_SECONDS
        revoked = self.records.since(cutoff)
        self.revoked = revoked
        self.projects_made_private = any(subject.startswith(ANONYMOUS_IN) for subject in revoked)
        if now - self._purged_at >= PURGE_EVERY_SECONDS:
            self._purged_at = now
            self.records.purge_before(cutoff)

    def refused(self, subject: str, issued_at: float) -> bool:
        """Whether a token of `subject` issued at `issued_at` (its `iat`: whole seconds, from
        when its credentials were checked) stopped counting: issued before the change, or
        within GRACE_SECONDS after it."""
        revoked_at = self.revoked.get(subject)
        return revoked_at is not None and issued_at <= revoked_at + GRACE_SECONDS

    def refused_anonymous_in(self, project: str, issued_at: float) -> bool:
        """Whether an anonymous token issued at `issued_at` stopped counting in `project`
        (made private since: its pull there came from the project being public)."""
        return self.refused(anonymous_in(project), issued_at)

    def made_private_at(self, project: str) -> float:
        """When the project was last made private within a token's lifetime (0: not)."""
        return self.revoked.get(anonymous_in(project), 0.0)

    def anonymous_access(
        self, access: tuple[ResourceScope, ...], issued_at: float
    ) -> tuple[ResourceScope, ...]:
        """What an anonymous token issued at `issued_at` with this `access` claim allows now:
        its repository scopes in projects made private since dropped."""
        return tuple(
            scope
            for scope in access
            if scope.type != REPOSITORY
            or not self.refused_anonymous_in(project_of(scope.name), issued_at)
        )
