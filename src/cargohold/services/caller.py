"""Who made a request, as every service that records or limits requests sees it: the
principal, how it proved who it is, and where the request came from. The HTTP layer builds
one per request (api/callers.py); services take it as a plain value."""

from __future__ import annotations

from dataclasses import dataclass

from cargohold.meta.audit_fields import Actor
from cargohold.policy.permissions import NOBODY, Principal

# How the caller authenticated. The first three are identity.py's PASSWORD, ROBOT_SECRET and
# ACCESS_TOKEN; BEARER is a registry token from the token endpoint.
ANONYMOUS_METHOD = "anonymous"
PASSWORD_METHOD = "password"
ROBOT_METHOD = "robot"
ACCESS_TOKEN_METHOD = "token"
BEARER_METHOD = "bearer"
# A refresh token presented at the token endpoint (grant_type=refresh_token, or a revocation).
REFRESH_TOKEN_METHOD = "refresh"
# Work no request made: a schedule, or the server itself (the first admin, a retention purge).
SYSTEM_METHOD = "system"
# A background job, run on behalf of whoever submitted it.
JOB_METHOD = "job"
# A cluster's API server calling the admission webhook with its configured token.
ADMISSION_METHOD = "admission-token"
# The principal kind of the two above: it holds no role, so no permission check passes it.
SYSTEM_KIND = "system"


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

    def as_actor(self) -> Actor:
        """The caller as the audit log records it."""
        return Actor(self.actor, self.method, self.address, self.user_agent)


def anonymous_caller(address: str = "", user_agent: str = "") -> Caller:
    return Caller(NOBODY, ANONYMOUS_METHOD, address, user_agent)


def system_caller(name: str) -> Caller:
    """Work the server does by itself or on a schedule, recorded under `name` ("schedule",
    "system")."""
    return Caller(Principal(SYSTEM_KIND, name), SYSTEM_METHOD)


def job_caller(submitted_by: str) -> Caller:
    """A background job's changes, recorded under whoever submitted the job."""
    return Caller(Principal(SYSTEM_KIND, submitted_by), JOB_METHOD)
