"""Who made a request, as every service that records or limits requests sees it: the
principal, how it proved who it is, and where the request came from. The HTTP layer builds
one per request (api/callers.py); services take it as a plain value."""

from __future__ import annotations

from dataclasses import dataclass

from cargohold.policy.permissions import NOBODY, Principal

# How the caller authenticated. The first three are identity.py's PASSWORD, ROBOT_SECRET and
# ACCESS_TOKEN; BEARER is a registry token from the token endpoint.
ANONYMOUS_METHOD = "anonymous"
PASSWORD_METHOD = "password"
ROBOT_METHOD = "robot"
ACCESS_TOKEN_METHOD = "token"
BEARER_METHOD = "bearer"


@dataclass(frozen=True)
class Caller:
    principal: Principal
    method: str
    address: str = ""
    user_agent: str = ""

    @property
    def actor(self) -> str:
        """The name the audit log and rate limits know the caller by: the user or robot name,
        or "anonymous"."""
        return self.principal.name or "anonymous"


def anonymous_caller(address: str = "", user_agent: str = "") -> Caller:
    return Caller(NOBODY, ANONYMOUS_METHOD, address, user_agent)
