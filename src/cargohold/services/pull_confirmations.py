"""What a registry token allows now, where a signed-in token's pull may have come from a
project being public (decision 060).

A project made private after a signed-in token was issued keeps the token's pull there only
if its subject may still pull there (a member, a scoped robot, a system admin). Each process
asks the store once per subject, project and change: a yes is kept (a few bytes each; a full
set starts over), a no is asked again, since becoming a member, or the project public again,
revokes nothing and the old token pulls again then.
"""

from __future__ import annotations

from cargohold.policy.scopes import ResourceScope, without_pull
from cargohold.services.access import AccessControl
from cargohold.services.tokens import VerifiedToken

# Confirmations a process keeps before it starts over.
PULLS_CONFIRMED_KEPT = 4096


class PullConfirmations:
    def __init__(self, access: AccessControl) -> None:
        self._access = access
        self._tokens = access.tokens
        # (subject, project, when the project was made private) of subjects that still pull.
        self._confirmed: set[tuple[str, str, float]] = set()

    def known(self, token: VerifiedToken) -> tuple[ResourceScope, ...] | None:
        """What the token allows now, when that needs no read (TokenService.access_now, with
        every pull to confirm confirmed already); None: ask `access`, on the pool."""
        projects = self._tokens.pulls_to_confirm(token)
        if projects and not all(self._key(token.subject, p) in self._confirmed for p in projects):
            return None
        return self._tokens.access_now(token)

    def access(self, token: VerifiedToken) -> tuple[ResourceScope, ...]:
        """Blocking (a read of the subject's rights per project not yet confirmed): what the
        token allows now, less the pulls its subject lost."""
        access = self._tokens.access_now(token)
        projects = self._tokens.pulls_to_confirm(token)
        lost = {p for p in projects if not self._still_pulls(token.subject, p)}
        return without_pull(access, lost) if lost else access

    def _key(self, subject: str, project: str) -> tuple[str, str, float]:
        return subject, project, self._tokens.revocations.made_private_at(project)

    def _still_pulls(self, subject: str, project: str) -> bool:
        key = self._key(subject, project)
        if key in self._confirmed:
            return True
        if not self._access.still_pulls(subject, project):
            return False
        if len(self._confirmed) >= PULLS_CONFIRMED_KEPT:
            self._confirmed.clear()
        self._confirmed.add(key)
        return True
