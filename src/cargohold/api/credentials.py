"""What a request's Authorization header carries: Basic credentials, a bearer token, or
nothing. Parsing only; deciding who that is belongs to services/identity.py and
services/tokens.py. Shared by the token endpoint and the checks on /v2/ and /api/v1/."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from cargohold.services.secrets_hashing import is_refresh_token

# A header longer than this is refused before decoding (a JWT of a wide grant is a few KiB).
MAX_AUTHORIZATION_LENGTH = 16 * 1024


class CredentialsMalformed(ValueError):
    """The Authorization header is present but not a readable Basic or Bearer value. The
    message names the problem and never repeats the value."""


@dataclass(frozen=True)
class BasicCredentials:
    name: str
    secret: str

    def __repr__(self) -> str:  # the secret never reaches a log line or a traceback
        return f"BasicCredentials(name={self.name!r})"


@dataclass(frozen=True)
class BearerToken:
    token: str

    def __repr__(self) -> str:
        return "BearerToken(...)"


Credentials = BasicCredentials | BearerToken


def parse_authorization(header: str | None) -> Credentials | None:
    """The credentials in an Authorization header value, None when there is none. Schemes are
    case-insensitive (RFC 9110); Basic splits at the first colon (RFC 7617: a name has none,
    a password may)."""
    if header is None or not header.strip():
        return None
    if len(header) > MAX_AUTHORIZATION_LENGTH:
        raise CredentialsMalformed("authorization header too long")
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    match scheme.lower():
        case "basic":
            return _basic(value)
        case "bearer":
            # One split in C: checking every character in Python cost more than the rest of
            # a signed-in pull (a token is several hundred characters).
            if len(value.split()) != 1:
                raise CredentialsMalformed("bearer token is empty or contains spaces")
            return BearerToken(value)
        case _:
            raise CredentialsMalformed("unsupported authorization scheme (use Basic or Bearer)")


def _basic(value: str) -> BasicCredentials:
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise CredentialsMalformed("basic credentials are not base64 of UTF-8 text") from None
    name, colon, secret = decoded.partition(":")
    # A refresh token names its holder, so it may come without a name (as BuildKit sends it).
    if not colon or not (name or is_refresh_token(secret)):
        raise CredentialsMalformed("basic credentials must be name:secret")
    return BasicCredentials(name, secret)
