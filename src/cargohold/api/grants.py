"""What a request's credentials allow (a Grant), and the grants of registry tokens kept for
the requests that bring the same token back (the access check, api/access_check.py, decides;
this module only remembers).

A client sends one registry token with every request of a pull or push. The first request
with it verifies it (TokenService: a cached verdict, or one ES256 check per token lifetime) and
keeps its grant under the raw Authorization header and the client's address and User-Agent;
the next ones find it with one pass over the ASGI headers and a dict lookup, until the token
expires. Grants are immutable, so one object serves every request that brings the token.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cargohold.policy.permissions import NOBODY, ROBOT, USER, Principal
from cargohold.services.caller import BEARER_METHOD, Caller, anonymous_caller
from cargohold.services.token_revocations import TokenRevocations
from cargohold.services.tokens import VerifiedToken

# Grants of registry tokens kept for reuse (per token and client); starts afresh when full.
BEARER_GRANTS_KEPT = 1024
# The raw Authorization header, the client's address and its raw User-Agent.
KeptAs = tuple[bytes, str, bytes]


@dataclass(frozen=True)
class Grant:
    """What a request's credentials allow: a principal's roles (Basic, or none), a registry
    token's `access` claim (Bearer), or everything (auth off)."""

    caller: Caller
    token: VerifiedToken | None = None
    unrestricted: bool = False

    @property
    def signed_in(self) -> bool:
        """Credentials were given and accepted (an anonymous registry token counts)."""
        return self.unrestricted or not self.caller.principal.anonymous or self.token is not None


# Auth off: every request's grant (its caller, where asked, is the connection's anonymous one).
UNRESTRICTED = Grant(anonymous_caller(), unrestricted=True)


def authorization_and_agent(headers: Iterable[tuple[bytes, bytes]]) -> tuple[bytes | None, bytes]:
    """The first Authorization header's raw value (None: none) and the User-Agent's, in one
    pass over the ASGI headers (whose names the server gives in lower case)."""
    authorization: bytes | None = None
    agent = b""
    for key, value in headers:
        if key == b"authorization":
            if authorization is None:
                authorization = value
        elif key == b"user-agent" and not agent:
            agent = value
    return authorization, agent


class BearerGrants:
    def __init__(
        self, robot_prefix: str, clock: Callable[[], float], revocations: TokenRevocations
    ) -> None:
        self.robot_prefix = robot_prefix
        self.clock = clock
        self.revocations = revocations
        self._kept: dict[KeptAs, Grant] = {}

    def kept(self, kept_as: KeptAs) -> Grant | None:
        """The grant kept for this token and client, while the token lives."""
        grant = self._kept.get(kept_as)
        if grant is None or grant.token is None or self.clock() >= grant.token.expires_at:
            return None
        if self.revocations.refused(grant.token.subject, grant.token.issued_at):
            return None  # TokenService.verify refuses it
        return grant

    def keep(self, kept_as: KeptAs, verified: VerifiedToken, anonymous: Caller) -> Grant:
        """The grant of a verified token for the client `anonymous` is, kept for its next
        requests."""
        if len(self._kept) >= BEARER_GRANTS_KEPT:
            self._kept.clear()
        caller = Caller(
            self._principal(verified.subject),
            BEARER_METHOD,
            anonymous.address,
            anonymous.user_agent,
        )
        grant = self._kept[kept_as] = Grant(caller, verified)
        return grant

    def _principal(self, subject: str) -> Principal:
        # Only the name: what the token allows is its access claim, nothing the principal has.
        if not subject:
            return NOBODY
        return Principal(ROBOT if subject.startswith(self.robot_prefix) else USER, subject)
