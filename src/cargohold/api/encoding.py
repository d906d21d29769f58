"""The one way the admin API turns a response model into a Response (decision 018)."""

from __future__ import annotations

from collections.abc import Mapping

import msgspec
from starlette.responses import Response

# One encoder for every response: msgspec reuses its internal buffer between calls.
_ENCODER = msgspec.json.Encoder()


def encode(model: object) -> bytes:
    return _ENCODER.encode(model)


def json_response(
    model: msgspec.Struct,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    return Response(
        _ENCODER.encode(model),
        status_code=status_code,
        headers=headers,
        media_type="application/json",
    )
