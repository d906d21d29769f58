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


def caller_of(connection: HTTPConnection) -> Caller:
    """The caller the access check stored, or an anonymous caller from the connection's
    address when no check ran (auth off)."""
    stored = connection.scope.get(CALLER_KEY)
    if isinstance(stored, Caller):
        return stored
    user_agent = connection.headers.get("user-agent", "")[:MAX_USER_AGENT_LENGTH]
    return anonymous_caller(client_address(connection), user_agent)


def store_caller(connection: HTTPConnection, caller: Caller) -> None:
    connection.scope[CALLER_KEY] = caller
