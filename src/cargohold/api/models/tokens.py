"""The token endpoint's documents. They keep the shapes the Docker token spec and RFC 6749
give them (snake_case keys, `issued_at` in RFC 3339), not the admin API's camelCase."""

from __future__ import annotations

import msgspec

from cargohold.services.token_grants import Grant


class TokenResponse(msgspec.Struct, omit_defaults=True, kw_only=True):
    """GET /auth/token (distribution's token.md): `token` and `access_token` are the same."""

    token: str
    access_token: str
    expires_in: int
    issued_at: str
    refresh_token: str | None = None

    @classmethod
    def of(cls, grant: Grant) -> TokenResponse:
        issued = grant.token
        return cls(
            token=issued.token,
            access_token=issued.token,
            expires_in=issued.expires_in,
            issued_at=issued.issued_at,
            refresh_token=grant.refresh_token,
        )


class OAuthTokenResponse(msgspec.Struct, omit_defaults=True, kw_only=True):
    """POST /auth/token (distribution's oauth.md, RFC 6749 section 5.1)."""

    access_token: str
    token_type: str
    scope: str
    expires_in: int
    issued_at: str
    refresh_token: str | None = None

    @classmethod
    def of(cls, grant: Grant) -> OAuthTokenResponse:
        issued = grant.token
        return cls(
            access_token=issued.token,
            token_type="Bearer",
            scope=grant.granted_scope,
            expires_in=issued.expires_in,
            issued_at=issued.issued_at,
            refresh_token=grant.refresh_token,
        )


class OAuthErrorResponse(msgspec.Struct, kw_only=True):
    """An OAuth2 error (RFC 6749 section 5.2)."""

    error: str
    error_description: str
