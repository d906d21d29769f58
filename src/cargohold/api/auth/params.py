"""What both forms of token request check the same way."""

from __future__ import annotations

import re

# RFC 6749 appendix A.1: client_id = *VSCHAR (%x20-7E); we also bound its length.
_CLIENT_ID = re.compile(r"[\x20-\x7e]{0,255}")
# Cache-Control for every answer carrying a token (RFC 6749 section 5.1).
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def client_id_problem(client_id: str) -> str | None:
    """Why a client_id is refused, or None when it is fine."""
    if not _CLIENT_ID.fullmatch(client_id):
        return "client_id must be at most 255 printable ASCII characters"
    return None


def service_problem(service: str, ours: str) -> str | None:
    """Why a service is refused (tokens are issued for one service only), or None."""
    if service != ours:
        return f"unknown service {service[:100]!r}: this server issues tokens for {ours!r}"
    return None
