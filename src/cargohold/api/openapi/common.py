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


# The `{name}` path parameter of every /api/v1/repositories/{name}/... path.
REPOSITORY_NAME: dict[str, object] = {
    "name": "name",
    "in": "path",
    "required": True,
    "description": "Repository name; may contain slashes",
    "schema": {"type": "string"},
}


def error_response(description: str) -> dict[str, object]:
    return {"description": description, "content": {"application/json": {"schema": ERROR}}}


def ref(schema: str) -> dict[str, str]:
    """A reference to a component schema (generated from api/models/ or hand-written)."""
    return {"$ref": f"#/components/schemas/{schema}"}


def model_response(description: str, schema: str) -> dict[str, object]:
    """A JSON response whose body is the component `schema`."""
    return {"description": description, "content": {"application/json": {"schema": ref(schema)}}}
