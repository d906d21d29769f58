"""The access-control services of a process, built together (wiring_access.build_access_control).

The HTTP layer asks `identity` who a caller is, these methods what it may do (the decisions
themselves are policy/permissions.py's and policy/scopes.py's), `users` to manage users and
their personal access tokens, `tokens` to issue and verify registry tokens, and `grants` what
the token endpoint hands out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from cargohold.policy.permissions import PULL, Principal, Visibility, may, pull_visibility
from cargohold.services.identity import AccessStores, IdentityService
from cargohold.services.projects import ProjectService
from cargohold.services.robots import RobotService
from cargohold.services.token_grants import TokenGrantService
from cargohold.services.tokens import TokenService
from cargohold.services.users import UserService

T = TypeVar("T")

# A filtered listing reads the store in pages of at least this many rows.
VISIBLE_PAGE_BATCH = 100


@dataclass(frozen=True)
class AccessControl:
    stores: AccessStores
    identity: IdentityService
    users: UserService
    robots: RobotService
    tokens: TokenService
    grants: TokenGrantService
    projects: ProjectService

    def is_public(self, project: str) -> bool:
        """Whether anyone may pull from the project (a project without a row is private)."""
        return self.stores.projects.is_public(project)

    def allowed(self, principal: Principal, action: str, project: str | None) -> bool:
        """Whether the principal may take the action in the project (None: a system action).
        Reads the project's row only when it matters: for a pull by someone who is not a
        system admin (a public project gives pull and nothing else)."""
        if principal.system_admin:
            return True
        public = action == PULL and project is not None and self.is_public(project)
        return may(principal, action, project, public)

    def still_pulls(self, subject: str, project: str) -> bool:
        """Whether a registry token's subject may pull from the project as things stand now
        (its roles or scopes today, or the project public again): asked of a signed-in token
        issued before the project was made private (TokenService.pulls_to_confirm)."""
        return self.allowed(self.identity.principal_named(subject), PULL, project)

    def visibility(self, principal: Principal) -> Visibility:
        """The projects whose repositories the principal may pull, for listings."""
        if principal.system_admin:
            return pull_visibility(principal, ())
        return pull_visibility(principal, self.stores.projects.public_names())


def visible_page(
    fetch: Callable[[int, str | None], list[T]],
    name_of: Callable[[T], str],
    visible: Callable[[str], bool],
    limit: int,
    last: str | None,
) -> list[T]:
    """Up to `limit` rows after `last` whose names are visible, from a listing that pages by
    name (`fetch(limit, last)`). Reads on past what is hidden, a page at a time, until the
    page is full or the listing ends."""
    shown: list[T] = []
    batch = max(limit, VISIBLE_PAGE_BATCH)
    cursor = last
    while len(shown) < limit:
        rows = fetch(batch, cursor)
        shown.extend(row for row in rows if visible(name_of(row)))
        if len(rows) < batch:
            break
        cursor = name_of(rows[-1])
    return shown[:limit]
