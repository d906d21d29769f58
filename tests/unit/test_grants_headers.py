"""The access check reads the Authorization and User-Agent headers straight from the ASGI
scope: the first of each counts, as Starlette's headers would give it."""

from __future__ import annotations

from cargohold.api.grants import authorization_and_agent


def test_the_first_authorization_and_user_agent_count() -> None:
    headers = [
        (b"host", b"registry"),
        (b"user-agent", b"docker/27"),
        (b"authorization", b"Bearer first"),
        (b"authorization", b"Bearer second"),
        (b"user-agent", b"other"),
    ]
    assert authorization_and_agent(headers) == (b"Bearer first", b"docker/27")


def test_no_authorization_is_none_and_no_agent_is_empty() -> None:
    assert authorization_and_agent([(b"host", b"registry")]) == (None, b"")
