"""The route table (api/route_access.py) covers every route, and a route it lacks stops the
app: a new route cannot be forgotten."""

from __future__ import annotations

import ast
import inspect

import pytest
from starlette.routing import Route

from cargohold.api.app import ROUTES
from cargohold.api.route_access import IN_HANDLER, ROUTE_NEEDS, RouteWithoutNeed, need_for
from cargohold.api.route_guard import guard_routes
from cargohold.api.scanning import ROUTES as SCANNING_ROUTES
from cargohold.api.trust import ROUTES as TRUST_ROUTES

ALL_ROUTES = [r for r in [*ROUTES, *SCANNING_ROUTES, *TRUST_ROUTES] if isinstance(r, Route)]


def _methods(route: Route) -> set[str]:
    return set(route.methods or ())


def test_every_route_and_method_has_a_need() -> None:
    missing = [
        f"{method} {route.path}"
        for route in ALL_ROUTES
        for method in _methods(route)
        if need_for(route.path, method) is None
    ]
    assert missing == []


def test_the_table_names_no_route_that_does_not_exist() -> None:
    served = {(route.path, method) for route in ALL_ROUTES for method in _methods(route)}
    stale = [
        f"{method} {path}"
        for path, needs in ROUTE_NEEDS.items()
        for method in needs
        if (path, method) not in served
    ]
    assert stale == []


def test_a_route_without_a_need_stops_the_app() -> None:
    async def forgotten(request: object) -> None: ...

    with pytest.raises(RouteWithoutNeed, match="POST /api/v1/forgotten"):
        guard_routes([Route("/api/v1/forgotten", forgotten, methods=["POST"])], None)  # type: ignore[arg-type]
    with pytest.raises(RouteWithoutNeed, match="PATCH /api/v1/gc"):
        guard_routes([Route("/api/v1/gc", forgotten, methods=["POST", "PATCH"])], None)  # type: ignore[arg-type]


def test_handlers_the_table_leaves_the_check_to_make_it() -> None:
    """A route marked IN_HANDLER names its project in the body or a stored object: its handler
    must call route_guard.require before it changes anything."""
    unchecked = []
    for route in ALL_ROUTES:
        for method in _methods(route):
            need = need_for(route.path, method)
            assert need is not None
            if need.kind != IN_HANDLER:
                continue
            source = inspect.getsource(route.endpoint)
            calls = [
                node.func.id
                for node in ast.walk(ast.parse(source.lstrip()))
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            ]
            if "require" not in calls:
                unchecked.append(f"{method} {route.path}")
    assert unchecked == []
