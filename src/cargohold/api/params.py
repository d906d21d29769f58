"""Reading admin request bodies and path ids, with each resource's own error."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from cargohold.api.bodies import read_json_body
from cargohold.errors import RegistryError


async def json_body(request: Request, invalid: type[RegistryError], what: str) -> Any:
    """The request's JSON document; `invalid` (the resource's own 400) when it is not JSON."""
    try:
        return json.loads(await read_json_body(request))
    except ValueError:
        raise invalid(f"the body must be a JSON object describing {what}") from None


def path_id(request: Request, key: str, unknown: type[RegistryError]) -> int:
    """A numeric id from the path; `unknown` (the resource's 404) when it is not one."""
    raw = request.path_params[key]
    if not raw.isdigit():
        raise unknown(detail={"id": raw[:20]})
    return int(raw)
