"""The access-control services of a process, built together (wiring.build_access_control).

Nothing here is enforced by itself: the HTTP layer asks `identity` who a caller is, the
policy (policy/permissions.py, policy/scopes.py) what it may do, `tokens` to issue and
verify registry tokens, and `grants` what the token endpoint hands out.
"""

from __future__ import annotations

from dataclasses import dataclass

from cargohold.services.identity import AccessStores, IdentityService
from cargohold.services.robots import RobotService
from cargohold.services.token_grants import TokenGrantService
from cargohold.services.tokens import TokenService


@dataclass(frozen=True)
class AccessControl:
    stores: AccessStores
    identity: IdentityService
    robots: RobotService
    tokens: TokenService
    grants: TokenGrantService

    def is_public(self, project: str) -> bool:
        """Whether anyone may pull from the project (a project without a row is private)."""
        return self.stores.projects.is_public(project)
