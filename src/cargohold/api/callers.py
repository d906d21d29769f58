"""Where a request's Caller lives while the request runs: the access check stores it in the
ASGI scope, and handlers, the rate limiter and the audit read it from there."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from cargohold.services.caller import Caller, anonymous_caller

CALLER_KEY = "cargohold.caller"
MAX_USER_AGENT_LENGTH = 256


def client_address(connection: HTTPConnection) -> str:
    client = connection.client
    return client.host if client is not None else ""


# Anonymous callers by (address, raw User-Agent): a manifest GET asks for its caller (the pull
# is audited under it), and building one per request cost more than the rest of the audit.
# Callers are immutable, so requests from one client share one. Starts afresh when full.
_ANONYMOUS: dict[tuple[str, bytes], Caller] = {}
ANONYMOUS_CALLERS_KEPT = 4096


def caller_of(connection: HTTPConnection) -> Caller:
    """The caller the access check stored, or an anonymous caller from the connection's
    address when no check ran (auth off)."""
    scope = connection.scope
    stored = scope.get(CALLER_KEY)
    if isinstance(stored, Caller):
        return stored
    client = scope.get("client")
    address = client[0] if client else ""
    agent = b""
    for key, value in scope["headers"]:
        if key == b"user-agent":
            agent = value
            break
    known = _ANONYMOUS.get((address, agent))
    if known is None:
        if len(_ANONYMOUS) >= ANONYMOUS_CALLERS_KEPT:
            _ANONYMOUS.clear()
        user_agent = agent.decode("latin-1")[:MAX_USER_AGENT_LENGTH]
        known = _ANONYMOUS[address, agent] = anonymous_caller(address, user_agent)
    return known


def store_caller(connection: HTTPConnection, caller: Caller) -> None:
    connection.scope[CALLER_KEY] = caller
