"""Schema pieces the admin API's OpenAPI path modules share."""

from __future__ import annotations

ERROR = {
    "type": "object",
    "properties": {
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "detail": {},
                },
            },
        }
    },
}


def error_response(description: str) -> dict[str, object]:
    return {"description": description, "content": {"application/json": {"schema": ERROR}}}
