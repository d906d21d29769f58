"""What the HTTP handlers are given: the services, built once per process (wiring.py)."""

from __future__ import annotations

from starlette.requests import Request

from cargohold.wiring import Services

# The handlers' view of the services is the services themselves: one object graph per process,
# built by the composition root; the app only stores it.
AppContext = Services


def context(request: Request) -> AppContext:
    return request.app.state.ctx  # type: ignore[no-any-return]
