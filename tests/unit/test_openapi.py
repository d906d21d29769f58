"""The OpenAPI document describes every admin route the server serves."""

from __future__ import annotations

from cargohold.api.app import EXTENSION_ROUTES, ROUTES
from cargohold.api.openapi import OPENAPI
from cargohold.api.openapi import path_shape as _shape


def test_every_admin_route_is_in_the_openapi_document() -> None:
    documented = {
        (_shape(path), method.upper())
        for path, operations in OPENAPI["paths"].items()
        for method in operations
    }
    served = {
        (_shape(route.path), method)
        for route in [*ROUTES, *(r for routes in EXTENSION_ROUTES.values() for r in routes())]
        if route.path.startswith("/api/v1/") and route.path != "/api/v1/openapi.json"
        for method in route.methods or ()
        if method != "HEAD"
    }
    assert served
    assert served <= documented, served - documented
