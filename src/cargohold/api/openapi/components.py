"""The OpenAPI components (schemas) of the admin API."""

from __future__ import annotations

from typing import Any

import msgspec

from cargohold.api.models import NAMED_UNIONS, RESPONSE_MODELS

# Component schemas generated from the response models the server encodes with.
_UNION_SCHEMAS, GENERATED = msgspec.json.schema_components(
    list(NAMED_UNIONS.values()), ref_template="#/components/schemas/{name}"
)
_, _MODEL_SCHEMAS = msgspec.json.schema_components(
    RESPONSE_MODELS, ref_template="#/components/schemas/{name}"
)
GENERATED.update(_MODEL_SCHEMAS)
GENERATED.update(zip(NAMED_UNIONS, _UNION_SCHEMAS, strict=True))
# Request bodies and the documents not yet generated from a model.
HAND_WRITTEN: dict[str, Any] = {
    # The body of POST /api/v1/tag-rules (the response is the generated TagRule).
    "TagRuleRequest": {
        "type": "object",
        "required": ["scope", "target"],
        "properties": {
            "kind": {"type": "string", "enum": ["immutable", "deny-latest"]},
            "scope": {"type": "string", "enum": ["project", "repository"]},
            "target": {"type": "string"},
            "pattern": {"type": "string"},
            "patternKind": {"type": "string", "enum": ["glob", "regex"]},
            "excludes": {"type": "array", "items": {"type": "string"}},
        },
    },
}
assert not set(GENERATED) & set(HAND_WRITTEN), "a schema is generated or hand-written, not both"
COMPONENTS: dict[str, Any] = {"schemas": {**GENERATED, **HAND_WRITTEN}}
