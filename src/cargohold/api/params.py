"""Reading admin request bodies, path ids and query parameters, with each resource's own
error."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

import msgspec
from starlette.requests import ClientDisconnect, Request

from cargohold.api.bodies import read_json_body
from cargohold.errors import RegistryError
from cargohold.parsing.integers import parse_non_negative
from cargohold.parsing.json_document import JsonInvalid, load_json
from cargohold.parsing.times import time_from_query

if TYPE_CHECKING:
    from cargohold.api.context import AppContext

# Methods that only read. Starlette answers HEAD on every GET route with the GET's handler, and
# the access check asks HEAD for what GET needs: a handler serving several methods tells reads
# from writes with is_read, never by comparing with "GET" (a HEAD would run its write).
READ_METHODS = frozenset({"GET", "HEAD"})


def is_read(request: Request) -> bool:
    return request.method in READ_METHODS


async def json_body(request: Request, invalid: type[RegistryError], what: str) -> Any:
    """The request's JSON document; `invalid` (the resource's own 400) when it is not JSON."""
    try:
        body = await read_json_body(request)
    except ClientDisconnect:
        raise invalid(
            f"the body describing {what} could not be read: the client disconnected or sent "
            "a malformed chunked body"
        ) from None
    try:
        return load_json(body)
    except JsonInvalid as exc:
        raise invalid(f"the body must be a JSON object describing {what}: {exc}") from None


Body = TypeVar("Body", bound=msgspec.Struct)


async def model_body(
    request: Request, model: type[Body], invalid: type[RegistryError], what: str
) -> Body:
    """The request's JSON body as the typed `model` (api/models/, documented in OpenAPI from
    it); `invalid` (the resource's own 400) saying what is wrong with it."""
    document = await json_body(request, invalid, what)
    try:
        return msgspec.convert(document, model)
    except msgspec.ValidationError as exc:
        raise invalid(f"{what}: {exc}") from None


def path_id(request: Request, key: str, unknown: type[RegistryError]) -> int:
    """A numeric id from the path; `unknown` (the resource's 404) when it is not one."""
    raw = request.path_params[key]
    try:
        return parse_non_negative(raw)
    except ValueError:
        # No such id can exist: the resource is unknown, as for any other missing id.
        raise unknown(detail={"id": raw[:20]}) from None


def optional_query_flag(request: Request, name: str, invalid: type[RegistryError]) -> bool | None:
    """A boolean query flag: `true`, `false`, or None when absent. Anything else is `invalid`
    (the resource's 400): a flag such as `dryRun=maybe` must never be read as false."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if raw not in ("true", "false"):
        raise invalid(f"{name} must be true or false, got {raw[:40]!r}", detail={"parameter": name})
    return raw == "true"


def query_flag(request: Request, name: str, invalid: type[RegistryError]) -> bool:
    """A boolean query flag that is false when absent (see optional_query_flag)."""
    return optional_query_flag(request, name, invalid) is True


def query_time(request: Request, name: str, invalid: type[RegistryError]) -> float | None:
    """A point in time (UNIX seconds): RFC 3339, a date (midnight UTC) or UNIX seconds, or
    None when absent or empty. Anything else is `invalid` with the parameter's name."""
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        return time_from_query(raw)
    except ValueError as exc:
        raise invalid(f"{name}: {exc}", detail={"parameter": name}) from None


def query_text(
    request: Request, name: str, invalid: type[RegistryError], max_length: int = 255
) -> str | None:
    """A text parameter matched exactly (a name), or None when absent or empty. Longer than
    any stored value, or with a NUL (which PostgreSQL cannot take), is `invalid`."""
    raw = request.query_params.get(name)
    if not raw:
        return None
    if len(raw) > max_length or "\x00" in raw:
        raise invalid(
            f"{name} must be at most {max_length} characters, without NUL",
            detail={"parameter": name},
        )
    return raw


def manifest_digest(ctx: AppContext, repository: str, reference: str) -> str:
    """The manifest a tag or digest names (NAME_UNKNOWN, MANIFEST_UNKNOWN otherwise), for the
    admin routes about one image (its scan, its analysis): reading it there is not a pull."""
    return ctx.registry.get_manifest(repository, reference, puller=None).digest
