"""The token endpoint's decisions: who is asking, what they get, and refresh tokens.

A grant is the registry token for the requested scopes, holding the intersection of what was
asked and what the caller may do (an empty grant is a token too, not an error), and, for an
authenticated caller who asks for it, a refresh token: a random secret shown once, stored as
its SHA-256 digest (docs/decisions/022), that gets further registry tokens for the same user
or robot without the password until it expires, is revoked, or its holder may no longer sign
in. Scopes are parsed before any credential is checked, so a malformed request costs no
password check and counts as no failed login.

Plain synchronous code: the HTTP layer calls it on the boundary's pool (a password check is
argon2, slow on purpose).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from cargohold.meta.refresh_tokens import Holder
from cargohold.policy.permissions import NOBODY, Principal
from cargohold.policy.scopes import ResourceScope, ScopeError, grant, parse_scopes
from cargohold.services.access_errors import AuthenticationFailed, GrantRefused, ScopeMalformed
from cargohold.services.caller import REFRESH_TOKEN_METHOD, Caller
from cargohold.services.identity import (
    ACCESS_TOKEN,
    PASSWORD,
    ROBOT_SECRET,
    AccessStores,
    Identity,
    IdentityService,
)
from cargohold.services.secrets_hashing import digest, new_refresh_token
from cargohold.services.tokens import InvalidToken, IssuedToken, TokenRevoked, TokenService

Clock = Callable[[], float]
DAY_SECONDS = 86400.0


@dataclass(frozen=True)
class Grant:
    """A registry token, the access it carries, and the refresh token made with it (if one
    was asked for, or the one it was obtained with)."""

    subject: str
    token: IssuedToken
    access: tuple[ResourceScope, ...]
    refresh_token: str | None = field(default=None, repr=False)

    @property
    def granted_scope(self) -> str:
        """The granted scopes, space-separated (resources granted nothing are left out)."""
        return " ".join(str(scope) for scope in self.access if scope.actions)


class TokenGrantService:
    def __init__(
        self,
        identity: IdentityService,
        stores: AccessStores,
        tokens: TokenService,
        refresh_expiry_days: int,
        clock: Clock,
    ) -> None:
        self.identity = identity
        self.stores = stores
        self.refresh_tokens = stores.refresh_tokens
        self.tokens = tokens
        self.refresh_expiry_days = refresh_expiry_days
        self.clock = clock

    @property
    def service(self) -> str:
        """The one service tokens are issued for (their `aud`)."""
        return self.tokens.service

    # -- grants -----------------------------------------------------------------------------

    def for_anonymous(self, scopes: Iterable[str]) -> Grant:
        """What anyone may have: pull on public projects, the catalog."""
        return self._issue(NOBODY, _requested(scopes))

    def for_credentials(
        self,
        name: str,
        secret: str,
        origin: Caller,
        scopes: Iterable[str],
        offline: bool,
        client_id: str,
    ) -> Grant:
        """A user's password or personal access token, a robot's secret, or a refresh token
        sent as Basic credentials (which is handed back as it is: it is already offline).
        Raises ScopeMalformed, AuthenticationFailed (LoginThrottled when throttled or locked).
        `origin` is the request's caller before sign-in (its address is counted)."""
        requested = _requested(scopes)
        checked_at = self.clock()
        identity = self.identity.authenticate(name, secret, origin)
        refresh = None
        if identity.method == REFRESH_TOKEN_METHOD:
            refresh = secret if offline else None
        elif offline:
            refresh = self._new_refresh_token(identity, secret, client_id, origin)
        return self._issue(identity.principal, requested, refresh, checked_at)

    def for_robot_by_reads(
        self, name: str, secret: str, origin: Caller, scopes: Iterable[str]
    ) -> Grant | None:
        """A robot's grant when its secret checks out with reads alone (no refresh token asked
        for, no failure to count or clear): the token endpoint answers it on the event loop.
        None: ask for_credentials, which decides the rest (credentials that are not a
        robot's are told apart before the scopes are parsed). Raises ScopeMalformed."""
        if not self.identity.is_robot_secret(name, secret):
            return None
        requested = _requested(scopes)
        checked_at = self.clock()
        identity = self.identity.robot_by_reads(name, secret, origin)
        if identity is None:
            return None
        return self._issue(identity.principal, requested, checked_at=checked_at)

    def for_refresh_token(self, refresh_token: str, scopes: Iterable[str], origin: Caller) -> Grant:
        """A new registry token for the refresh token's holder, with the holder's access as
        it is now; the refresh token stays the same. Raises ScopeMalformed, GrantRefused.
        Noted as a login of the holder, ok or failed (an unknown token names no one: it is
        only refused)."""
        requested = _requested(scopes)
        now = self.clock()
        stored = self.identity.stored_refresh_token(refresh_token)
        if stored is None:
            raise GrantRefused("unknown refresh token")
        subject = stored.holder.subject
        try:
            principal = self.identity.refresh_token_holder(stored, now)
        except AuthenticationFailed as failed:
            self.identity.trail.login(origin, subject, REFRESH_TOKEN_METHOD, False, failed.reason)
            raise GrantRefused(failed.reason) from None
        self.identity.trail.login(origin, subject, REFRESH_TOKEN_METHOD, True)
        return self._issue(principal, requested, refresh_token, now)

    def _issue(
        self,
        principal: Principal,
        requested: list[ResourceScope],
        refresh: str | None = None,
        checked_at: float | None = None,
    ) -> Grant:
        """`checked_at`: when the credentials were checked from (the token's `iat`)."""
        access = tuple(grant(principal, requested, self.stores.projects.is_public))
        issued = self.tokens.issue(principal.name, access, checked_at)
        return Grant(principal.name, issued, access, refresh)

    # -- refresh tokens ---------------------------------------------------------------------

    def _new_refresh_token(
        self, identity: Identity, secret: str, client_id: str, origin: Caller
    ) -> str:
        now = self.clock()
        expires_at = now + self.refresh_expiry_days * DAY_SECONDS
        holder, credential_expires_at = self._holder_of(identity, secret)
        if credential_expires_at is not None:
            # A refresh token never outlives the credential that obtained it.
            expires_at = min(expires_at, credential_expires_at)
        text = new_refresh_token()
        signed_in = Caller(identity.principal, identity.method, origin.address, origin.user_agent)
        self.refresh_tokens.create(
            digest(text), holder, client_id, expires_at, now, signed_in.as_actor()
        )
        return text

    def _holder_of(self, identity: Identity, secret: str) -> tuple[Holder, float | None]:
        name = identity.principal.name
        if identity.method == ROBOT_SECRET:
            robot = self.stores.robots.by_name(name)
            if robot is not None:
                return Holder(name, robot_id=robot.id), robot.expires_at
        elif identity.method == ACCESS_TOKEN:
            token = self.stores.tokens.by_hash(digest(secret))
            if token is not None:
                return Holder(
                    name, user_id=token.user_id, access_token_id=token.id
                ), token.expires_at
        elif identity.method == PASSWORD:
            user = self.stores.users.by_name(name)
            if user is not None:
                return Holder(name, user_id=user.id), None
        # Deleted between its authentication and now.
        raise AuthenticationFailed("credential gone")

    def revoke(self, text: str, origin: Caller) -> bool:
        """Revoke a refresh token; False when it is none of ours (not an error: RFC 7009).
        Audited under the token's holder, from the request `origin`."""
        actor = replace(origin.as_actor(), method=REFRESH_TOKEN_METHOD)
        return self.refresh_tokens.revoke(digest(text), self.clock(), actor) is not None

    def is_registry_token(self, text: str) -> bool:
        """Whether the text is a valid registry token of ours (those cannot be revoked: they
        are short-lived and checked without a lookup)."""
        try:
            self.tokens.verify(text)
        except TokenRevoked:
            return True
        except InvalidToken:
            return False
        return True


def _requested(scopes: Iterable[str]) -> list[ResourceScope]:
    try:
        return parse_scopes(scopes)
    except ScopeError as exc:
        raise ScopeMalformed(str(exc)) from None
