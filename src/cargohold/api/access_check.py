"""The access check: who is calling, and whether the route lets them (decision 023).

Every route of the app is wrapped (api/route_guard.py) with the needs api/route_access.py lists
for it. Before the handler runs, the wrapper reads the Authorization header:

- none: an anonymous caller, who may pull from public projects;
- Basic: a user's password or personal access token, or a robot's secret, checked by
  IdentityService on the pool (an argon2 check is slow on purpose; nothing about it is cached);
- Basic or Bearer with a refresh token of the token endpoint (what `docker login` keeps as its
  identitytoken): its holder, with the holder's roles as they are now, checked on the pool;
- Bearer: a registry token, verified on the event loop (TokenService keeps each verdict for
  the token's lifetime, so a pull verifies its token once; a verified token costs a dict
  lookup, far less than a thread hop). Its `access` claim is all it allows: no query. The
  grant is kept per token and client (api/grants.py): the token's next requests find it by
  their raw Authorization header.

It stores the Caller in the ASGI scope (api/callers.py) for handlers, rate limits and the audit,
and the Grant beside it, then decides. The answers: no credentials and not allowed, 401 with a
challenge (on /v2/ the token flow's `Bearer realm=...,service=...,scope=...`; on the admin API
`Basic realm="cargohold"`); credentials refused or malformed, 401; throttled or locked, 429
with Retry-After; allowed credentials that do not allow this, 403, except a registry token on
/v2/, which gets 401 naming the scope it lacks, so the client fetches a wider one (with an
error_description the client shows if the wider one allows no more).
"""

from __future__ import annotations

import logging

from starlette.requests import Request

from cargohold.api.access_errors import throttled
from cargohold.api.boundary import fast_read, in_pool
from cargohold.api.callers import caller_of, store_caller
from cargohold.api.challenges import (
    ADMIN_CHALLENGE,
    DENIED,
    bearer_challenge,
    default_realm,
    on_registry,
    scope_of,
    scope_refusal_words,
)
from cargohold.api.credentials import (
    BasicCredentials,
    BearerToken,
    Credentials,
    CredentialsMalformed,
    parse_authorization,
)
from cargohold.api.grants import (
    UNRESTRICTED,
    BearerGrants,
    Grant,
    KeptAs,
    authorization_and_agent,
)
from cargohold.api.route_access import (
    ADMISSION,
    ANYONE,
    CATALOG,
    IN_HANDLER,
    LISTING,
    METRICS,
    METRICS_ACTION,
    OWN_CREDENTIALS,
    PROJECT,
    REPOSITORY,
    SELF,
    SIGNED_IN,
    SYSTEM,
    Need,
)
from cargohold.config import Settings
from cargohold.errors import Denied, RegistryError, Unauthorized
from cargohold.oci.names import project_of
from cargohold.policy.permissions import (
    PULL,
    REPOSITORY_ACTIONS,
    USER,
    Principal,
    may,
)
from cargohold.policy.scopes import (
    ResourceScope,
    covers,
    covers_catalog,
)
from cargohold.services.access import AccessControl
from cargohold.services.access_errors import AuthenticationFailed, LoginThrottled
from cargohold.services.admission import DEFAULT_CLUSTER
from cargohold.services.caller import (
    ADMISSION_METHOD,
    SYSTEM_KIND,
    Caller,
)
from cargohold.services.pull_confirmations import PullConfirmations
from cargohold.services.secrets_hashing import digest, is_refresh_token
from cargohold.services.tokens import InvalidToken, VerifiedToken

log = logging.getLogger("cargohold.auth")

GRANT_KEY = "cargohold.grant"
# A denial's audit reason names the request; paths are bounded, but not this short.
MAX_DENIAL_REASON = 512
# The admission webhook's callers are named after their cluster (`cluster:prod`).
CLUSTER_PREFIX = "cluster:"


class AccessCheck:
    def __init__(self, settings: Settings, access: AccessControl) -> None:
        self.enabled = settings.auth == "on"
        # /metrics without credentials (metrics_access = "anonymous"), or system admins only.
        self.metrics_open = settings.metrics_access == "anonymous"
        self.realm = settings.auth_token_realm
        self.service = settings.auth_token_service
        self.robot_prefix = settings.auth_robot_prefix
        self.access = access
        # Each admission token's SHA-256 -> its cluster (api/admission.py's callers).
        self.admission_tokens = settings.admission_token_digests
        self.bearer_grants = BearerGrants(
            self.robot_prefix, access.tokens.clock, access.tokens.revocations
        )
        self.pulls = PullConfirmations(access)

    # -- who is calling -----------------------------------------------------------------------

    async def identify(self, request: Request, need: Need) -> Grant:
        """The request's grant, stored with its caller in the scope; raises 401 or 429 for
        credentials that are malformed, refused or held back."""
        if not self.enabled:
            # Everything is allowed; handlers that ask get the anonymous caller of the
            # connection (caller_of keeps one per client), nothing is built per request.
            request.scope[GRANT_KEY] = UNRESTRICTED
            return UNRESTRICTED
        if need.kind == OWN_CREDENTIALS:
            return self._keep(request, Grant(caller_of(request)))
        raw, agent = authorization_and_agent(request.scope["headers"])
        if raw is None:
            return self._keep(request, Grant(caller_of(request)))
        client = request.scope.get("client")
        kept_as = (raw, client[0] if client else "", agent)
        if need.kind != ADMISSION and (kept := self.bearer_grants.kept(kept_as)) is not None:
            # The same registry token from the same client again: its verdict and grant are
            # known (a signed-in request then costs a dict lookup, not a parse and a check).
            return self._keep(request, kept)
        header = raw.decode("latin-1")
        try:
            credentials = parse_authorization(header)
        except CredentialsMalformed as exc:
            raise self._unauthorized(request, need, str(exc), "invalid_request") from None
        if credentials is None:
            return self._keep(request, Grant(caller_of(request)))
        if need.kind == ADMISSION:
            return self._keep(request, self._admission(request, need, credentials))
        if isinstance(credentials, BearerToken) and is_refresh_token(credentials.token):
            # A refresh token stands for its holder, as when sent as Basic credentials.
            credentials = BasicCredentials("", credentials.token)
        if isinstance(credentials, BearerToken):
            return self._keep(request, self._bearer(request, need, credentials.token, kept_as))
        anonymous = caller_of(request)
        return self._keep(request, await self._basic(request, need, credentials, anonymous))

    def _bearer(self, request: Request, need: Need, token: str, kept_as: KeptAs) -> Grant:
        """The grant of a registry token, kept under `kept_as` (the raw Authorization header
        and the client's address and User-Agent) for the token's next requests."""
        try:
            # Inline: a cached verdict is a dict lookup; a new token is one ES256 check,
            # once per token lifetime (decision 023).
            verified = fast_read(self.access.tokens.verify, token)
        except InvalidToken as exc:
            raise self._unauthorized(request, need, str(exc), "invalid_token") from None
        return self.bearer_grants.keep(kept_as, verified, caller_of(request))

    def _admission(self, request: Request, need: Need, credentials: Credentials) -> Grant:
        """A cluster's API server calling the admission webhook with its bearer token (a
        configured token's SHA-256 names its cluster); any other credentials are nobody's
        there, and authorize refuses them."""
        anonymous = caller_of(request)
        if not isinstance(credentials, BearerToken):
            return Grant(anonymous)
        cluster = self.admission_tokens.get(digest(credentials.token))
        if cluster is None:
            raise self._unauthorized(request, need, "admission token not accepted")
        caller = Caller(
            Principal(SYSTEM_KIND, f"{CLUSTER_PREFIX}{cluster}"),
            ADMISSION_METHOD,
            anonymous.address,
            anonymous.user_agent,
        )
        return Grant(caller)

    async def _basic(
        self, request: Request, need: Need, credentials: BasicCredentials, anonymous: Caller
    ) -> Grant:
        try:
            identity = await in_pool(
                self.access.identity.authenticate,
                credentials.name,
                credentials.secret,
                anonymous,
            )
        except AuthenticationFailed as failed:
            log.info(
                "login refused for %r from %s: %s",
                credentials.name[:64],
                anonymous.address,
                failed.reason,
            )
            if isinstance(failed, LoginThrottled):
                raise throttled(failed) from None
            raise self._unauthorized(request, need, "credentials not accepted") from None
        caller = Caller(
            identity.principal, identity.method, anonymous.address, anonymous.user_agent
        )
        return Grant(caller)

    @staticmethod
    def _keep(request: Request, grant: Grant) -> Grant:
        store_caller(request, grant.caller)
        request.scope[GRANT_KEY] = grant
        return grant

    # -- what it may do -----------------------------------------------------------------------

    async def token_access(self, token: VerifiedToken) -> tuple[ResourceScope, ...]:
        """What a registry token allows now (services/pull_confirmations.py): known at once,
        or, when a signed-in subject's pull in a project made private since is not yet
        confirmed, asked on the pool."""
        known = self.pulls.known(token)
        return known if known is not None else await in_pool(self.pulls.access, token)

    def token_access_blocking(self, token: VerifiedToken) -> tuple[ResourceScope, ...]:
        """token_access, for code already on the pool."""
        return self.pulls.access(token)

    async def permits(
        self, grant: Grant, action: str, project: str | None, repository: str | None = None
    ) -> bool:
        """Whether the grant allows the action on the repository, in the project, or (both
        None) as a system action."""
        if grant.unrestricted:
            return True
        if grant.token is not None:
            # A token allows exactly its claim: registry actions on the repositories it names.
            return (
                repository is not None
                and action in REPOSITORY_ACTIONS
                and covers(await self.token_access(grant.token), repository, action)
            )
        if repository is not None:
            project = project_of(repository)
        principal = grant.caller.principal
        if may(principal, action, project):
            return True
        # Only a public project adds anything, and only pull: that is the one query, an
        # indexed single-row read run inline as the manifest read it precedes (decision 017).
        return action == PULL and project is not None and fast_read(self.access.is_public, project)

    def enforced(self, need: Need) -> Need:
        """The need the check enforces for a route's listed need: METRICS is anyone's or the
        system action METRICS_ACTION, as metrics_access says (fixed at start)."""
        if need.kind != METRICS:
            return need
        return Need(ANYONE) if self.metrics_open else Need(SYSTEM, METRICS_ACTION)

    async def authorize(self, request: Request, grant: Grant, need: Need) -> None:
        """Raise the refusal when the grant does not meet the need."""
        if grant.unrestricted or need.kind in (ANYONE, LISTING, OWN_CREDENTIALS):
            return
        if need.kind in (SIGNED_IN, IN_HANDLER):
            if not grant.signed_in:
                raise self._unauthorized(request, need)
            return
        if need.kind == CATALOG:
            if grant.token is not None and not covers_catalog(grant.token.access):
                described = scope_refusal_words(grant.token)
                raise self._unauthorized(
                    request,
                    need,
                    "token does not allow the catalog",
                    "insufficient_scope",
                    described,
                )
            if not grant.signed_in:
                raise self._unauthorized(request, need)
            return
        if need.kind == ADMISSION:
            cluster = request.path_params.get("cluster", DEFAULT_CLUSTER)
            caller = grant.caller
            if caller.method != ADMISSION_METHOD:
                # No cluster's token: whoever else signs in is nobody here (_admission).
                raise self._unauthorized(request, need)
            if caller.principal.name != f"{CLUSTER_PREFIX}{cluster}":
                raise self.refusal(request, grant, need, ADMISSION, target=str(cluster)[:63])
            return
        if need.kind == SELF:
            named = request.path_params[need.param]
            if not self._is_self(grant, named) and not (
                await self.permits(grant, need.system, None)
            ):
                raise self.refusal(request, grant, need, need.system, target=named)
            return
        repository, project = self._target(request, need)
        action = need.action
        if need.kind == PROJECT and project is None:
            action = need.system
        if not await self.permits(grant, action, project, repository):
            raise self.refusal(request, grant, need, action, project, repository)

    @staticmethod
    def _is_self(grant: Grant, name: str) -> bool:
        """The grant is the named user's own credentials (a registry token allows repository
        actions only, so it is nobody's self)."""
        principal = grant.caller.principal
        return grant.token is None and principal.kind == USER and principal.name == name

    @staticmethod
    def _target(request: Request, need: Need) -> tuple[str | None, str | None]:
        """The repository and project a need names (None, None: a system action)."""
        if need.kind == REPOSITORY:
            repository = request.path_params[need.param]
            return repository, project_of(repository)
        if need.kind == PROJECT:
            if need.param.startswith("?"):
                return None, request.query_params.get(need.param[1:]) or None
            named = request.path_params[need.param]
            return None, project_of(named)
        assert need.kind == SYSTEM, need
        return None, None

    # -- answers ------------------------------------------------------------------------------

    def refusal(
        self,
        request: Request,
        grant: Grant,
        need: Need,
        action: str,
        project: str | None = None,
        repository: str | None = None,
        target: str = "",
    ) -> RegistryError:
        """The answer to a caller whose grant does not allow what the route needs. A caller
        who signed in is denied, and that is noted in the audit log (`access.<action>`, result
        denied; batched, so a client retrying in a loop costs one entry per flush); an
        anonymous caller is asked to sign in, the first step of every client's token flow,
        which is not a denial."""
        if not grant.signed_in:
            return self._unauthorized(request, need)
        reason = "token does not allow it" if grant.token is not None else "no permission"
        self.access.identity.trail.denied(
            grant.caller,
            f"access.{action}",
            f"{reason}: {request.method} {request.url.path}"[:MAX_DENIAL_REASON],
            project=project or "",
            repository=repository or "",
            target=target,
        )
        if grant.token is not None and on_registry(request):
            # The challenge's error_description is what docker, skopeo and containerd show
            # (as `denied: ...`): the only words a client gets with a HEAD's bodiless 401.
            described = scope_refusal_words(grant.token)
            return self._unauthorized(request, need, described, "insufficient_scope", described)
        return Denied(DENIED)

    def _unauthorized(
        self,
        request: Request,
        need: Need,
        message: str | None = None,
        error: str = "",
        description: str = "",
    ) -> Unauthorized:
        if not on_registry(request):
            return Unauthorized(message, headers={"WWW-Authenticate": ADMIN_CHALLENGE})
        realm = self.realm or default_realm(request)
        challenge = bearer_challenge(
            realm, self.service, scope_of(request, need), error, description
        )
        return Unauthorized(message, headers={"WWW-Authenticate": challenge})
