"""Registry tokens: JWTs signed with ES256, as the Docker token spec describes them.

Claims: `iss`, `sub` ("" for anonymous), `aud` (the service), `exp`, `nbf`, `iat`, `jti` and
`access` (the granted scopes); the header names the signing key by `kid`. Verification
accepts nothing but ES256 with a key of the ring (so neither `alg: none` nor an HS256 token
"signed" with the public key gets through), and checks the issuer, the audience and the
times against the injected clock. A verdict is cached for the token's lifetime, keyed by its
signature (and checked against the whole token, so a payload changed under a cached
signature is verified, and refused, afresh): a pull verifies its token once.

A token signed for a subject and grant is handed out again, as it was, when the same subject
is granted the same access within `reuse_seconds` (decision 059): its `issued_at` and
`expires_in` are the first answer's, so a client knows when it expires. The credentials are
checked and the grant worked out afresh for every request; only the signature is saved, and
every process that has seen the token already knows its verdict.
"""

from __future__ import annotations

import math
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import jwt

from cargohold.policy.scopes import ResourceScope, pulled_projects
from cargohold.services.token_keys import SigningKeys
from cargohold.services.token_revocations import TokenRevocations

Clock = Callable[[], float]
K = TypeVar("K")
V = TypeVar("V")
# What a signed token is kept under for reuse: the signing key's kid, the subject, the access.
TokenKey = tuple[str, str, tuple[ResourceScope, ...]]
ALGORITHM = "ES256"
# Nodes' clocks differ a little: `nbf` and `iat` may be this far in the future.
CLOCK_SKEW_SECONDS = 30.0
_REQUIRED = ("iss", "sub", "aud", "exp", "nbf", "iat", "jti", "access")


class InvalidToken(Exception):
    """A token that is not one of ours, or no longer valid. The message says which check
    failed, never the token."""


class TokenRevoked(InvalidToken):
    """A valid token of ours whose subject's tokens were revoked since it was issued."""


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_in: int
    issued_at: str  # RFC 3339, UTC
    jti: str


@dataclass(frozen=True)
class VerifiedToken:
    subject: str
    access: tuple[ResourceScope, ...]
    expires_at: float
    jti: str
    issued_at: float = 0.0


def _access_of(claim: object) -> tuple[ResourceScope, ...]:
    if not isinstance(claim, list):
        raise InvalidToken("access claim is not a list")
    scopes = []
    for entry in claim:
        if not isinstance(entry, dict):
            raise InvalidToken("access entry is not an object")
        kind, name, actions = entry.get("type"), entry.get("name"), entry.get("actions")
        if not isinstance(kind, str) or not isinstance(name, str) or not isinstance(actions, list):
            raise InvalidToken("access entry lacks type, name or actions")
        if not all(isinstance(a, str) for a in actions):
            raise InvalidToken("access actions are not strings")
        scopes.append(ResourceScope(kind, name, tuple(actions)))
    return tuple(scopes)


def _seconds(claims: dict[str, object], name: str) -> float:
    """A time claim: a finite JSON number (RFC 7519 NumericDate). A string, a boolean, or the
    NaN and Infinity Python's JSON parser takes would otherwise make a token that never
    expires, or one whose `nbf` every comparison lets through."""
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidToken("exp, nbf and iat must be numbers of seconds")
    return float(value)


class TokenService:
    def __init__(
        self,
        keys: SigningKeys,
        issuer: str,
        service: str,
        expiry_seconds: int,
        clock: Clock,
        cache_size: int = 2048,
        revocations: TokenRevocations | None = None,
        reuse_seconds: float = 0.0,
    ) -> None:
        self.keys = keys
        # Subjects whose tokens stopped counting before they expire (none: a token lives
        # until it expires).
        self.revocations = revocations or TokenRevocations(None, expiry_seconds, clock)
        self.issuer = issuer
        self.service = service
        self.expiry_seconds = max(60, expiry_seconds)
        self.clock = clock
        self.cache_size = cache_size
        # signature -> (the whole token, its verdict): about 1.3 KB each, so a full cache is
        # about 2.5 MiB per process; a token that falls out is checked once more (~0.13 ms).
        self._verdicts: dict[str, tuple[str, VerifiedToken]] = {}
        self._cache_lock = threading.Lock()
        # A token handed out again has at least the spec's 60 s to live.
        self.reuse_seconds = max(0.0, min(reuse_seconds, self.expiry_seconds - 60))
        # (kid, subject, access) -> the token signed for them, its verdict, when it was signed.
        self._signed: dict[TokenKey, tuple[IssuedToken, VerifiedToken, float]] = {}

    def issue(
        self, subject: str, access: Iterable[ResourceScope], checked_at: float | None = None
    ) -> IssuedToken:
        """A token for `subject`; `checked_at`, when its credentials were checked from (before
        the account was read), is its `iat`: a revocation committed while the check ran then
        comes after it (services/token_revocations.py). The token signed for the same key,
        subject and access within reuse_seconds, when nothing revoked it since, is handed back
        as it was."""
        now = self.clock()
        key = self.keys.current()
        access = tuple(access)
        token_key = (key.kid, subject, access)
        if self.reuse_seconds and (signed := self._signed.get(token_key)) is not None:
            issued_token, verdict, signed_at = signed
            if 0 <= now - signed_at < self.reuse_seconds and self._unrevoked(verdict):
                return issued_token
        issued = int(now if checked_at is None else min(checked_at, now))
        jti = uuid.uuid4().hex
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,
            "exp": int(now) + self.expiry_seconds,
            "nbf": issued,
            "iat": issued,
            "jti": jti,
            "access": [scope.as_claim() for scope in access],
        }
        token = jwt.encode(
            claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid, "typ": "JWT"}
        )
        # The client's next requests bring this token back, mostly to this process (a client
        # keeps its connection): its verdict is known, so they need no signature check.
        verdict = VerifiedToken(subject, access, float(claims["exp"]), jti, float(claims["iat"]))
        self._remember(token.rpartition(".")[2], token, verdict, now)
        issued_at = datetime.fromtimestamp(int(now), UTC).isoformat().replace("+00:00", "Z")
        issued_token = IssuedToken(token, self.expiry_seconds, issued_at, jti)
        if self.reuse_seconds:
            self._keep_signed(token_key, issued_token, verdict, now)
        return issued_token

    def access_now(self, token: VerifiedToken) -> tuple[ResourceScope, ...]:
        """What a registry token allows now: its claim, less an anonymous token's pulls in a
        project made private since it was issued (they came from the project being public)."""
        if token.subject:
            return token.access
        return self.revocations.anonymous_access(token.access, token.issued_at)

    def pulls_to_confirm(self, token: VerifiedToken) -> set[str]:
        """The projects where a signed-in token's pull holds only if its subject may pull there
        now: made private after the token was issued, its pull may have come from the project
        being public (decision 058). Empty for an anonymous token (access_now takes those pulls
        away) and whenever no project was made private within a token's lifetime."""
        if not token.subject or not self.revocations.projects_made_private:
            return set()
        return {
            project
            for project in pulled_projects(token.access)
            if self.revocations.refused_anonymous_in(project, token.issued_at)
        }

    def _unrevoked(self, verdict: VerifiedToken) -> bool:
        """Whether all of a token still counts, with nothing to confirm: its subject's tokens
        not revoked since it was issued, and none of the projects it pulls from made private
        since (an anonymous token's pulls there are gone, a signed-in one's to be confirmed: a
        token signed now needs neither)."""
        return (
            not self.revocations.refused(verdict.subject, verdict.issued_at)
            and self.access_now(verdict) == verdict.access
            and not self.pulls_to_confirm(verdict)
        )

    def _keep_signed(
        self, token_key: TokenKey, issued: IssuedToken, verdict: VerifiedToken, now: float
    ) -> None:
        with self._cache_lock:
            _make_room(self._signed, self.cache_size, lambda v: now - v[2] >= self.reuse_seconds)
            self._signed[token_key] = (issued, verdict, now)

    def verify(self, token: str) -> VerifiedToken:
        """The token's subject and access; raises InvalidToken."""
        now = self.clock()
        signature = token.rpartition(".")[2]
        cached = self._verdicts.get(signature)
        if cached is not None and cached[0] == token and now < cached[1].expires_at:
            verdict = cached[1]
        else:
            verdict = self._verify(token, now)
            self._remember(signature, token, verdict, now)
        if self.revocations.refused(verdict.subject, verdict.issued_at):
            raise TokenRevoked("token revoked: its holder's credentials or rights changed")
        return verdict

    def _verify(self, token: str, now: float) -> VerifiedToken:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("malformed token") from None
        if header.get("alg") != ALGORITHM:
            raise InvalidToken(f"algorithm must be {ALGORITHM}")
        kid = header.get("kid")
        public_key = self.keys.public_key(kid) if isinstance(kid, str) else None
        if public_key is None:
            raise InvalidToken("unknown signing key")
        try:
            claims = jwt.decode(
                token,
                public_key,
                algorithms=[ALGORITHM],
                audience=self.service,
                issuer=self.issuer,
                # Times are checked below against the injected clock.
                options={
                    "require": list(_REQUIRED),
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.InvalidAudienceError:
            raise InvalidToken("token is for another service") from None
        except jwt.InvalidIssuerError:
            raise InvalidToken("token is from another issuer") from None
        except jwt.InvalidSignatureError:
            raise InvalidToken("bad signature") from None
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"invalid token: {type(exc).__name__}") from None
        exp, nbf, iat = _seconds(claims, "exp"), _seconds(claims, "nbf"), _seconds(claims, "iat")
        if now >= exp:
            raise InvalidToken("token expired")
        if nbf > now + CLOCK_SKEW_SECONDS or iat > now + CLOCK_SKEW_SECONDS:
            raise InvalidToken("token not valid yet")
        subject, jti = claims["sub"], claims["jti"]
        if not isinstance(subject, str) or not isinstance(jti, str):
            raise InvalidToken("sub and jti must be strings")
        return VerifiedToken(subject, _access_of(claims["access"]), exp, jti, iat)

    def _remember(self, signature: str, token: str, verdict: VerifiedToken, now: float) -> None:
        with self._cache_lock:
            _make_room(self._verdicts, self.cache_size, lambda v: v[1].expires_at <= now)
            self._verdicts[signature] = (token, verdict)


def _make_room(cache: dict[K, V], size: int, stale: Callable[[V], bool]) -> None:
    """Room for one more entry in a cache of at most `size`: when full, its stale entries go,
    and if it is still full of live ones, the older half (dicts keep insertion order)."""
    if len(cache) < size:
        return
    for key in [k for k, v in cache.items() if stale(v)]:
        del cache[key]
    if len(cache) >= size:
        for key in list(cache)[: size // 2]:
            del cache[key]
