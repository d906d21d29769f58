"""The routes' access check, and what handlers ask of it (decision 023).

`guard_routes` wraps every route of the app with the needs api/route_access.py lists for it:
before the handler runs, the AccessCheck (api/access_check.py) identifies the caller and
decides. Handlers whose need is decided by what they read (IN_HANDLER) call `require`; listings
ask `visibility`; a cross-repository mount asks `pull_check`.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from cargohold.api.access_check import GRANT_KEY, AccessCheck
from cargohold.api.boundary import in_pool
from cargohold.api.grants import Grant
from cargohold.api.route_access import PROJECT, Need, needs_of
from cargohold.oci.names import project_of
from cargohold.policy.permissions import EVERYTHING, PULL, Visibility
from cargohold.policy.scopes import covers, token_visibility

Endpoint = Callable[[Request], Awaitable[Response]]


def _guarded(endpoint: Endpoint, needs: Mapping[str, Need], check: AccessCheck) -> Endpoint:
    async def checked(request: Request) -> Response:
        need = needs[request.method]
        grant = await check.identify(request, need)
        await check.authorize(request, grant, need)
        return await endpoint(request)

    checked.__name__ = getattr(endpoint, "__name__", "endpoint")
    checked.__doc__ = endpoint.__doc__
    return checked


def guard_routes(routes: Sequence[BaseRoute], check: AccessCheck) -> list[BaseRoute]:
    """The routes, each wrapped in the access check with its needs; raises RouteWithoutNeed
    for a route or method api/route_access.py does not list (the app does not start)."""
    guarded: list[BaseRoute] = []
    for route in routes:
        if not isinstance(route, Route):
            raise TypeError(f"{route!r}: only plain routes can be given an access check")
        listed = needs_of(route.path, set(route.methods or ()))
        needs = {method: check.enforced(need) for method, need in listed.items()}
        guarded.append(
            Route(
                route.path,
                _guarded(route.endpoint, needs, check),
                methods=list(route.methods or ()),
                name=route.name,
            )
        )
    return guarded


def _check_of(request: Request) -> AccessCheck:
    return request.app.state.access_check  # type: ignore[no-any-return]


def grant_of(request: Request) -> Grant:
    grant = request.scope.get(GRANT_KEY)
    assert isinstance(grant, Grant), "the access check did not run for this request"
    return grant


async def require(request: Request, action: str, project: str | None) -> None:
    """For a route the table marks IN_HANDLER: refuse unless the caller may take the action in
    the project its body or stored object names (None: only a system admin may)."""
    check = _check_of(request)
    grant = grant_of(request)
    if not await check.permits(grant, action, project):
        raise check.refusal(request, grant, Need(PROJECT, action), action, project)


def pull_check(request: Request) -> Callable[[str], bool]:
    """Whether the caller may pull from a repository, as a synchronous check to run on the
    pool (a cross-repository mount's candidate sources)."""
    grant = grant_of(request)
    if grant.unrestricted:
        return lambda repository: True
    if grant.token is not None:
        token, check = grant.token, _check_of(request)
        # Worked out on the pool at the first candidate, once for them all.
        access = functools.cache(lambda: check.token_access_blocking(token))
        return lambda repository: covers(access(), repository, PULL)
    control = _check_of(request).access
    principal = grant.caller.principal
    return lambda repository: control.allowed(principal, PULL, project_of(repository))


async def visibility(request: Request, catalog: bool = False) -> Visibility:
    """What a listing may show the caller: the repositories it may pull. For the catalog, a
    registry token stands for its subject, whose permissions decide (the token's claim is
    `registry:catalog:*`, which names no repository)."""
    grant = grant_of(request)
    if grant.unrestricted:
        return EVERYTHING
    access = _check_of(request).access
    if grant.token is None:
        return await in_pool(access.visibility, grant.caller.principal)
    if not catalog:
        return token_visibility(await _check_of(request).token_access(grant.token))
    subject = grant.token.subject
    return await in_pool(lambda: access.visibility(access.identity.principal_named(subject)))
